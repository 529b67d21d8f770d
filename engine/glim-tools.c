/* glim-tools.c: the tool registry: built-in tools, argument checks, and running a call on a
 * worker thread with a timeout and an output cap.
 * SPDX-License-Identifier: MIT
 *
 * A call runs on its own thread; the caller waits up to the timeout. A call that overruns is
 * abandoned: its GCancellable is cancelled and the caller returns an error result at once. The
 * thread then finishes on its own; it holds references to everything it touches (the job and
 * the tool entry with its user_data), so nothing is freed under it, even if the registry goes
 * away first. */
#define G_LOG_DOMAIN "glimmer-tools"

#include "glim-tools-private.h"

#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_OUTPUT 16384
#define WAIT_SLICE_US      (50 * G_TIME_SPAN_MILLISECOND)

/* The built-ins' names, descriptions and schemas: exactly make_corpus.py's CALCULATOR and
 * CURRENT_TIME (the demo model saw these in every prompt); member order matters. */
#define CALCULATOR_DESCRIPTION \
  "Evaluate an arithmetic expression with integers, + - * / and parentheses."
#define CALCULATOR_PARAMETERS \
  "{\"type\": \"object\", \"properties\": {\"expr\": {\"type\": \"string\", " \
  "\"description\": \"The expression, for example 37 * 41\"}}, \"required\": [\"expr\"]}"
#define CURRENT_TIME_DESCRIPTION "The current local date and time as an ISO 8601 timestamp."
#define CURRENT_TIME_PARAMETERS \
  "{\"type\": \"object\", \"properties\": {}, \"required\": []}"

/* ---- tool entries (refcounted: a running call keeps its tool alive) ---- */

typedef struct {
  gint           ref;
  char          *name;
  char          *description;
  JsonObject    *parameters;   /* may be NULL */
  GlimToolFunc   func;
  gpointer       user_data;
  GDestroyNotify destroy;
} Tool;

static Tool *
tool_ref (Tool *t)
{
  g_atomic_int_inc (&t->ref);
  return t;
}

static void
tool_unref (gpointer data)
{
  Tool *t = data;
  if (!g_atomic_int_dec_and_test (&t->ref))
    return;
  if (t->destroy != NULL)
    t->destroy (t->user_data);
  g_free (t->name);
  g_free (t->description);
  g_clear_pointer (&t->parameters, json_object_unref);
  g_free (t);
}

struct _GlimToolRegistry {
  GPtrArray *tools;   /* Tool *, in the order they were added */
};

GlimToolRegistry *
glim_tool_registry_new (void)
{
  GlimToolRegistry *r = g_new0 (GlimToolRegistry, 1);
  r->tools = g_ptr_array_new_with_free_func (tool_unref);
  return r;
}

void
glim_tool_registry_free (GlimToolRegistry *registry)
{
  if (registry == NULL)
    return;
  g_ptr_array_unref (registry->tools);
  g_free (registry);
}

static Tool *
find_tool (GlimToolRegistry *r, const char *name)
{
  for (guint i = 0; i < r->tools->len; i++) {
    Tool *t = g_ptr_array_index (r->tools, i);
    if (g_strcmp0 (t->name, name) == 0)
      return t;
  }
  return NULL;
}

void
glim_tool_registry_add (GlimToolRegistry *registry, const char *name, const char *description,
                        JsonObject *parameters, GlimToolFunc func, gpointer user_data,
                        GDestroyNotify destroy)
{
  g_return_if_fail (registry != NULL && name != NULL && func != NULL);
  Tool *t = g_new0 (Tool, 1);
  t->ref = 1;
  t->name = g_strdup (name);
  t->description = g_strdup (description);
  t->parameters = parameters ? json_object_ref (parameters) : NULL;
  t->func = func;
  t->user_data = user_data;
  t->destroy = destroy;
  for (guint i = 0; i < registry->tools->len; i++) {
    Tool *old = g_ptr_array_index (registry->tools, i);
    if (strcmp (old->name, name) == 0) {
      registry->tools->pdata[i] = t;
      tool_unref (old);
      return;
    }
  }
  g_ptr_array_add (registry->tools, t);
}

guint
glim_tool_registry_get_n_tools (GlimToolRegistry *registry)
{
  g_return_val_if_fail (registry != NULL, 0);
  return registry->tools->len;
}

const char *
glim_tool_registry_get_name (GlimToolRegistry *registry, guint i)
{
  g_return_val_if_fail (registry != NULL && i < registry->tools->len, NULL);
  return ((Tool *) g_ptr_array_index (registry->tools, i))->name;
}

const char *
glim_tool_registry_get_description (GlimToolRegistry *registry, const char *name)
{
  g_return_val_if_fail (registry != NULL, NULL);
  Tool *t = find_tool (registry, name);
  return t ? t->description : NULL;
}

gboolean
glim_tool_registry_has (GlimToolRegistry *registry, const char *name)
{
  g_return_val_if_fail (registry != NULL, FALSE);
  return find_tool (registry, name) != NULL;
}

void
glim_tool_registry_add_to_request (GlimToolRegistry *registry, GlimChatRequest *request,
                                   const char *const *only)
{
  g_return_if_fail (registry != NULL && request != NULL);
  for (guint i = 0; i < registry->tools->len; i++) {
    Tool *t = g_ptr_array_index (registry->tools, i);
    if (only != NULL && !g_strv_contains (only, t->name))
      continue;
    glim_chat_request_add_tool (request, t->name, t->description, t->parameters);
  }
}

/* ---- built-ins ---- */

static char *
calculator_run (JsonObject *arguments, GCancellable *cancellable, gpointer user_data,
                GError **error)
{
  const char *expr = json_object_get_string_member (arguments, "expr");
  GlimCalcValue v;
  if (!glim_calculator_eval_value (expr, &v, error))
    return NULL;
  return glim_calculator_format_value (&v);
}

static char *
current_time_run (JsonObject *arguments, GCancellable *cancellable, gpointer user_data,
                  GError **error)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  return g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");
}

static JsonObject *
schema_from_text (const char *text)
{
  g_autoptr (JsonNode) node = json_from_string (text, NULL);
  g_assert (node != NULL && JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

GlimToolRegistry *
glim_tool_registry_new_builtin (void)
{
  GlimToolRegistry *r = glim_tool_registry_new ();
  g_autoptr (JsonObject) calc = schema_from_text (CALCULATOR_PARAMETERS);
  g_autoptr (JsonObject) time = schema_from_text (CURRENT_TIME_PARAMETERS);
  glim_tool_registry_add (r, "calculator", CALCULATOR_DESCRIPTION, calc, calculator_run,
                          NULL, NULL);
  glim_tool_registry_add (r, "current_time", CURRENT_TIME_DESCRIPTION, time, current_time_run,
                          NULL, NULL);
  return r;
}

/* ---- argument checks ---- */

static gboolean
node_has_type (JsonNode *node, const char *type)
{
  JsonNodeType nt = json_node_get_node_type (node);
  GType vt = nt == JSON_NODE_VALUE ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (strcmp (type, "string") == 0)
    return vt == G_TYPE_STRING;
  if (strcmp (type, "integer") == 0)
    return vt == G_TYPE_INT64;
  if (strcmp (type, "number") == 0)
    return vt == G_TYPE_INT64 || vt == G_TYPE_DOUBLE;
  if (strcmp (type, "boolean") == 0)
    return vt == G_TYPE_BOOLEAN;
  if (strcmp (type, "object") == 0)
    return nt == JSON_NODE_OBJECT;
  if (strcmp (type, "array") == 0)
    return nt == JSON_NODE_ARRAY;
  if (strcmp (type, "null") == 0)
    return nt == JSON_NODE_NULL;
  return TRUE;   /* a type this check does not know: accepted */
}

/* The schema's "type" for a value: a string, or a list of strings (any may match). */
static gboolean
node_matches (JsonNode *node, JsonNode *type, GString *expected)
{
  if (JSON_NODE_HOLDS_VALUE (type) && json_node_get_value_type (type) == G_TYPE_STRING) {
    g_string_append (expected, json_node_get_string (type));
    return node_has_type (node, json_node_get_string (type));
  }
  if (JSON_NODE_HOLDS_ARRAY (type)) {
    JsonArray *a = json_node_get_array (type);
    gboolean any = FALSE, ok = FALSE;
    for (guint i = 0; i < json_array_get_length (a); i++) {
      JsonNode *t = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (t) || json_node_get_value_type (t) != G_TYPE_STRING)
        continue;
      g_string_append_printf (expected, "%s%s", any ? " or " : "", json_node_get_string (t));
      any = TRUE;
      ok |= node_has_type (node, json_node_get_string (t));
    }
    return ok || !any;
  }
  return TRUE;
}

/* NULL when the arguments fit the schema, else the error text for the model. */
static char *
check_arguments (JsonObject *schema, JsonObject *args)
{
  if (schema == NULL)
    return NULL;
  JsonNode *req = json_object_get_member (schema, "required");
  if (req != NULL && JSON_NODE_HOLDS_ARRAY (req)) {
    JsonArray *a = json_node_get_array (req);
    for (guint i = 0; i < json_array_get_length (a); i++) {
      JsonNode *k = json_array_get_element (a, i);
      if (JSON_NODE_HOLDS_VALUE (k) && json_node_get_value_type (k) == G_TYPE_STRING &&
          !json_object_has_member (args, json_node_get_string (k)))
        return g_strdup_printf ("missing required argument \"%s\"", json_node_get_string (k));
    }
  }
  JsonNode *props = json_object_get_member (schema, "properties");
  if (props == NULL || !JSON_NODE_HOLDS_OBJECT (props))
    return NULL;
  JsonObjectIter it;
  const char *key;
  JsonNode *value;
  json_object_iter_init_ordered (&it, args);
  while (json_object_iter_next_ordered (&it, &key, &value)) {
    JsonNode *prop = json_object_get_member (json_node_get_object (props), key);
    if (prop == NULL || !JSON_NODE_HOLDS_OBJECT (prop))
      continue;
    JsonNode *type = json_object_get_member (json_node_get_object (prop), "type");
    g_autoptr (GString) expected = g_string_new (NULL);
    if (type != NULL && !node_matches (value, type, expected))
      return g_strdup_printf ("argument \"%s\" must be of type %s", key, expected->str);
  }
  return NULL;
}

/* ---- running a call ---- */

typedef struct {
  gint          ref;
  GMutex        lock;
  GCond         cond;
  gboolean      done;
  Tool         *tool;
  JsonObject   *arguments;
  GCancellable *cancellable;   /* the job's own; cancelled on timeout or caller cancel */
  char         *output;
  GError       *error;
} Job;

static void
job_unref (Job *job)
{
  if (!g_atomic_int_dec_and_test (&job->ref))
    return;
  tool_unref (job->tool);
  json_object_unref (job->arguments);
  g_object_unref (job->cancellable);
  g_free (job->output);
  g_clear_error (&job->error);
  g_mutex_clear (&job->lock);
  g_cond_clear (&job->cond);
  g_free (job);
}

static gpointer
job_thread (gpointer data)
{
  Job *job = data;
  GError *error = NULL;
  char *out = job->tool->func (job->arguments, job->cancellable, job->tool->user_data, &error);
  g_mutex_lock (&job->lock);
  job->output = out;
  job->error = error;
  job->done = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  job_unref (job);
  return NULL;
}

static void
set_error_result (GlimToolResult *result, const char *message)
{
  g_free (result->output);
  result->output = g_strdup_printf ("error: %s", message);
  result->ok = FALSE;
}

/* Cut `s` to at most `max` bytes at a UTF-8 character boundary, with a note. */
static void
cap_output (GlimToolResult *result, gsize max)
{
  gsize len = strlen (result->output);
  if (len <= max)
    return;
  gsize cut = max;
  while (cut > 0 && ((guchar) result->output[cut] & 0xC0) == 0x80)
    cut--;
  g_autofree char *head = g_strndup (result->output, cut);
  g_free (result->output);
  result->output = g_strdup_printf ("%s\n[output truncated: %" G_GSIZE_FORMAT " of %"
                                    G_GSIZE_FORMAT " bytes shown]", head, cut, len);
  result->truncated = TRUE;
}

static void
run_job (Tool *tool, JsonObject *args, guint timeout_ms, GCancellable *cancellable,
         GlimToolResult *result)
{
  Job *job = g_new0 (Job, 1);
  job->ref = 2;                 /* the caller's and the thread's */
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  job->tool = tool_ref (tool);
  job->arguments = json_object_ref (args);
  job->cancellable = g_cancellable_new ();

  g_autoptr (GError) thread_error = NULL;
  GThread *thread = g_thread_try_new ("glim-tool", job_thread, job, &thread_error);
  if (thread == NULL) {
    job->ref = 1;
    job_unref (job);
    g_autofree char *msg = g_strdup_printf ("could not start the tool: %s",
                                            thread_error->message);
    set_error_result (result, msg);
    return;
  }
  g_thread_unref (thread);

  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean timed_out = FALSE, cancelled = FALSE;
  g_mutex_lock (&job->lock);
  while (!job->done) {
    gint64 now = g_get_monotonic_time ();
    if (now >= deadline) {
      timed_out = TRUE;
      break;
    }
    if (g_cancellable_is_cancelled (cancellable)) {
      cancelled = TRUE;
      break;
    }
    g_cond_wait_until (&job->cond, &job->lock, MIN (deadline, now + WAIT_SLICE_US));
  }
  if (job->done) {
    if (job->error != NULL) {
      set_error_result (result, job->error->message);
    } else if (job->output == NULL) {
      set_error_result (result, "the tool gave no result");
    } else {
      g_free (result->output);
      result->output = g_steal_pointer (&job->output);
      if (!g_utf8_validate (result->output, -1, NULL)) {
        char *valid = g_utf8_make_valid (result->output, -1);
        g_free (result->output);
        result->output = valid;
      }
      result->ok = TRUE;
    }
  }
  g_mutex_unlock (&job->lock);
  if (timed_out || cancelled) {
    g_cancellable_cancel (job->cancellable);
    g_autofree char *msg = timed_out
      ? g_strdup_printf ("%s did not finish within %.3g s", tool->name, timeout_ms / 1000.0)
      : g_strdup ("the call was cancelled");
    set_error_result (result, msg);
  }
  job_unref (job);
}

static gboolean
is_blank (const char *s)
{
  while (s != NULL && g_ascii_isspace (*s))
    s++;
  return s == NULL || *s == '\0';
}

void
glim_tool_registry_run (GlimToolRegistry *registry, const char *name,
                        const char *arguments_json, const GlimToolLimits *limits,
                        GCancellable *cancellable, GlimToolResult *result)
{
  g_return_if_fail (registry != NULL && result != NULL);
  memset (result, 0, sizeof *result);
  gint64 t0 = g_get_monotonic_time ();
  guint timeout_ms = limits && limits->timeout_ms ? limits->timeout_ms : DEFAULT_TIMEOUT_MS;
  gsize max_out = limits && limits->max_output_bytes ? limits->max_output_bytes
                                                     : DEFAULT_MAX_OUTPUT;

  Tool *tool = name ? find_tool (registry, name) : NULL;
  g_autoptr (JsonNode) node = NULL;
  if (tool == NULL) {
    g_autoptr (GString) names = g_string_new (NULL);
    for (guint i = 0; i < registry->tools->len; i++)
      g_string_append_printf (names, "%s%s", i ? ", " : "",
                              ((Tool *) g_ptr_array_index (registry->tools, i))->name);
    g_autofree char *msg = g_strdup_printf ("unknown tool \"%s\" (available: %s)",
                                            name ? name : "", names->len ? names->str : "none");
    set_error_result (result, msg);
    goto out;
  }
  if (is_blank (arguments_json)) {
    node = json_node_new (JSON_NODE_OBJECT);
    json_node_take_object (node, json_object_new ());
  } else {
    g_autoptr (GError) perr = NULL;
    node = json_from_string (arguments_json, &perr);
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
      set_error_result (result, "the arguments are not a JSON object");
      goto out;
    }
  }
  g_autofree char *bad = check_arguments (tool->parameters, json_node_get_object (node));
  if (bad != NULL) {
    set_error_result (result, bad);
    goto out;
  }
  run_job (tool, json_node_get_object (node), timeout_ms, cancellable, result);

out:
  cap_output (result, max_out);
  result->seconds = (g_get_monotonic_time () - t0) / 1e6;
}

void
glim_tool_result_clear (GlimToolResult *result)
{
  if (result == NULL)
    return;
  g_clear_pointer (&result->output, g_free);
  result->ok = FALSE;
  result->truncated = FALSE;
  result->seconds = 0;
}
