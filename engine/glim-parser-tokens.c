/* glim-parser-tokens.c: the output parser's link to the tokenizer: tag and stop ids by lookup,
 * and feeding generated ids through the incremental decoder.
 * SPDX-License-Identifier: MIT
 *
 * Kept apart from glim-parser.c so the parser core builds and is tested without a tokenizer. */
#define G_LOG_DOMAIN "glimmer-parser"

#include "glim-parser-private.h"

#include <string.h>

static const char *const stop_texts[] = { "<|endoftext|>", "<|user|>", "<|observation|>" };

gboolean
glim_parser_tags_from_tokenizer (GlimTokenizer *tok, GlimParserTags *tags)
{
  g_return_val_if_fail (tok != NULL && tags != NULL, FALSE);
  for (int t = 0; t < GLIM_PARSER_N_TAGS; t++)
    tags->ids[t] = glim_tokenizer_lookup (tok, glim_parser_tag_text ((GlimParserTag) t));
  memset (tags->stop_ids, 0xff, sizeof tags->stop_ids);
  tags->n_stop = 0;
  gboolean all = TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (stop_texts); i++) {
    int32_t id = glim_tokenizer_lookup (tok, stop_texts[i]);
    if (id < 0)
      all = FALSE;
    else
      tags->stop_ids[tags->n_stop++] = id;
  }
  return all;
}

gboolean
glim_parser_feed_decoded (GlimParser *parser, GlimDecoder *decoder, int32_t id)
{
  g_return_val_if_fail (parser != NULL && decoder != NULL, TRUE);
  if (glim_parser_stopped (parser))
    return TRUE;
  g_autoptr (GString) text = g_string_new (NULL);
  if (glim_parser_is_special_id (parser, id)) {
    /* a tag or stop token ends any UTF-8 sequence the decoder holds back */
    glim_decoder_flush (decoder, text);
    glim_parser_feed_text (parser, text->str, (gssize) text->len);
    return glim_parser_feed_token (parser, id, NULL, 0);
  }
  glim_decoder_push (decoder, id, text);
  return glim_parser_feed_token (parser, id, text->str, (gssize) text->len);
}

void
glim_parser_finish_decoded (GlimParser *parser, GlimDecoder *decoder, GlimParserFinish reason)
{
  g_return_if_fail (parser != NULL && decoder != NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  glim_decoder_flush (decoder, text);
  if (!glim_parser_stopped (parser))
    glim_parser_feed_text (parser, text->str, (gssize) text->len);
  glim_parser_finish (parser, reason);
}
