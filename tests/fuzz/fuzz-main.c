/* fuzz-main.c: a stand-alone driver for libFuzzer targets, so gcc builds can run them as tests:
 * every seed file first, then random and mutated inputs until the time is up.
 * SPDX-License-Identifier: MIT
 *
 * Usage: fuzz-NAME [-t SECONDS] [-s SEED] [-n MAX_LEN] [FILE|DIR...]
 * A crash or abort fails the test. The run is deterministic for a seed (printed first), and on
 * SIGABRT/SIGSEGV the input being run is printed as hex to stderr for reproduction. */
#define G_LOG_DOMAIN "glimmer-fuzz"

#include <glib.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

typedef struct {
  GPtrArray *seeds;      /* GBytes* */
  GRand     *rng;
  gsize      max_len;
} Driver;

/* The input being run, for the crash handler (a signal handler can only reach a static). */
static struct {
  const guint8 *data;
  gsize         len;
} current;

static void
on_crash (int sig)
{
  static const char digits[] = "0123456789abcdef";
  static const char head[] = "\nfuzz: crashing input (hex): ";
  (void) !write (2, head, sizeof head - 1);
  for (gsize i = 0; i < current.len; i++) {
    char b[2] = { digits[current.data[i] >> 4], digits[current.data[i] & 15] };
    (void) !write (2, b, 2);
  }
  (void) !write (2, "\n", 1);
  signal (sig, SIG_DFL);
  raise (sig);
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
insert (GByteArray *buf, guint at, const guint8 *data, guint len)
{
  g_array_insert_vals ((GArray *) buf, at, data, len);
}

static void
add_path (Driver *d, const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
    const char *name;
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
      g_ptr_array_add (names, g_build_filename (path, name, NULL));
    g_ptr_array_sort (names, compare_paths);
    for (guint i = 0; i < names->len; i++)
      add_path (d, g_ptr_array_index (names, i));
    return;
  }
  char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (path, &data, &len, &error)) {
    g_printerr ("fuzz: %s\n", error->message);
    exit (2);
  }
  g_ptr_array_add (d->seeds, g_bytes_new_take (data, len));
}

static void
run_one (Driver *d, const guint8 *data, gsize len)
{
  /* a private copy of exactly len bytes, so that reading past the end is caught by ASan */
  guint8 *copy = g_malloc (len ? len : 1);
  memcpy (copy, data, len);
  current.data = copy;
  current.len = len;
  LLVMFuzzerTestOneInput (copy, len);
  current.len = 0;
  g_free (copy);
}

static const char *const dictionary[] = {
  "<think>", "</think>", "<|user|>", "<tool_call>", "[gMASK]", "<|endoftext|>", "'s", "'LL",
  "'\xc5\xbf", "\r\n", "  ", "\t", "\xc2\x85", "\xe3\x80\x80", "\xf0\x9f\x98\x80", "\xe2\x80\x8d",
  "\xcc\x81", "\xff", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "123", "\x00", "\"merges\"",
  "\"vocab\"", "{", "}", "[", "]", ",", "\"type\"", "null", "true", "\"\\u0000\"", "\\",
};

/* One random edit of buf (libFuzzer-style: bit flip, byte, insert, erase, dictionary, splice). */
static void
mutate (Driver *d, GByteArray *buf)
{
  GRand *r = d->rng;
  guint op = g_rand_int_range (r, 0, 7);
  guint n = buf->len;
  guint at = n ? g_rand_int_range (r, 0, n + 1) : 0;
  switch (op) {
  case 0:
    if (n > 1)   /* keep byte 0, the mode, more often intact */
      buf->data[g_rand_int_range (r, 1, n)] ^= (guint8) (1u << g_rand_int_range (r, 0, 8));
    break;
  case 1:
    if (n)
      buf->data[g_rand_int_range (r, 0, n)] = (guint8) g_rand_int_range (r, 0, 256);
    break;
  case 2: {
    guint8 b[8];
    guint k = g_rand_int_range (r, 1, 9);
    for (guint i = 0; i < k; i++)
      b[i] = (guint8) g_rand_int_range (r, 0, 256);
    insert (buf, MAX (at, n ? 1 : 0), b, k);
    break;
  }
  case 3:
    if (n > 1) {
      guint start = g_rand_int_range (r, 1, n);
      guint len = g_rand_int_range (r, 1, 16);
      g_byte_array_remove_range (buf, start, MIN (len, n - start));
    }
    break;
  case 4: {
    const char *w = dictionary[g_rand_int_range (r, 0, G_N_ELEMENTS (dictionary))];
    gsize wl = w[0] ? strlen (w) : 1;
    insert (buf, MAX (at, n ? 1 : 0), (const guint8 *) w, (guint) wl);
    break;
  }
  case 5: {   /* splice a piece of another seed */
    GBytes *other = g_ptr_array_index (d->seeds, g_rand_int_range (r, 0, d->seeds->len));
    gsize ol;
    const guint8 *od = g_bytes_get_data (other, &ol);
    if (ol > 1) {
      guint from = g_rand_int_range (r, 1, ol);
      guint len = g_rand_int_range (r, 1, MIN (ol - from, 256) + 1);
      insert (buf, MAX (at, n ? 1 : 0), od + from, len);
    }
    break;
  }
  default:   /* repeat a piece: long words, long runs */
    if (n > 1) {
      guint from = g_rand_int_range (r, 1, n);
      guint len = g_rand_int_range (r, 1, 8);
      len = MIN (len, n - from);
      guint times = g_rand_int_range (r, 2, 200);
      g_autofree guint8 *piece = g_memdup2 (buf->data + from, len);
      for (guint t = 0; t < times && buf->len < d->max_len; t++)
        insert (buf, from, piece, len);
    }
    break;
  }
  if (buf->len > d->max_len)
    g_byte_array_set_size (buf, (guint) d->max_len);
}

int
main (int argc, char **argv)
{
  double seconds = 5;
  gint64 seed = -1;
  gint max_len = 4096;
  GOptionEntry entries[] = {
    { "time", 't', 0, G_OPTION_ARG_DOUBLE, &seconds, "Seconds of random inputs (default 5)", "S" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default: from the clock)", "N" },
    { "max-len", 'n', 0, G_OPTION_ARG_INT, &max_len, "Longest input (default 4096)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) oc = g_option_context_new ("[FILE|DIR...]");
  g_option_context_add_main_entries (oc, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (oc, &argc, &argv, &error)) {
    g_printerr ("fuzz: %s\n", error->message);
    return 2;
  }
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);

  signal (SIGABRT, on_crash);
  signal (SIGSEGV, on_crash);
  Driver d = { .seeds = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
               .max_len = (gsize) MAX (max_len, 2) };
  for (int i = 1; i < argc; i++)
    add_path (&d, argv[i]);
  if (d.seeds->len == 0)
    g_ptr_array_add (d.seeds, g_bytes_new ("\0", 1));
  if (seed < 0)
    seed = g_get_real_time () % G_MAXINT32;
  d.rng = g_rand_new_with_seed ((guint32) seed);
  g_print ("fuzz: seed %" G_GINT64_FORMAT ", %u seed inputs, %.1f s\n", seed, d.seeds->len,
           seconds);

  for (guint i = 0; i < d.seeds->len; i++) {
    gsize len;
    const guint8 *data = g_bytes_get_data (g_ptr_array_index (d.seeds, i), &len);
    run_one (&d, data, len);
  }
  guint64 runs = d.seeds->len;
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * 1e6);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  while (g_get_monotonic_time () < end) {
    g_byte_array_set_size (buf, 0);
    if (g_rand_int_range (d.rng, 0, 8) == 0) {   /* fresh random bytes */
      guint n = g_rand_int_range (d.rng, 1, 256);
      for (guint i = 0; i < n; i++) {
        guint8 b = (guint8) g_rand_int_range (d.rng, 0, 256);
        g_byte_array_append (buf, &b, 1);
      }
    } else {
      gsize len;
      const guint8 *data = g_bytes_get_data (
        g_ptr_array_index (d.seeds, g_rand_int_range (d.rng, 0, d.seeds->len)), &len);
      g_byte_array_append (buf, data, (guint) MIN (len, d.max_len));
      for (int k = g_rand_int_range (d.rng, 1, 6); k > 0; k--)
        mutate (&d, buf);
    }
    run_one (&d, buf->data, buf->len);
    runs++;
  }
  g_print ("fuzz: %" G_GUINT64_FORMAT " runs, no failure\n", runs);
  g_rand_free (d.rng);
  g_ptr_array_unref (d.seeds);
  return 0;
}
