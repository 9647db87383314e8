/* ONNX export of a Siamese model's embedding tower: one image batch in, the
 * embedding out, in eval mode (batch norm with its running statistics, dropout
 * left out, the head's normalisation included), as a standard ONNX model (opset 13,
 * IR version 7) that ONNX Runtime and other runtimes load. docs/onnx.md lists how
 * each op maps to ONNX operators.
 *
 *   tg_trained t;                                   // or any built tg_model
 *   if (tg_trained_load("runs/x/best.tgc", &t) == TG_OK &&
 *       tg_onnx_export(t.model, "tower.onnx") != TG_OK)
 *       fprintf(stderr, "%s\n", tg_last_error());   // e.g. names an op with no mapping
 */
#ifndef TG_ONNX_H
#define TG_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"
#include "models/tg_model.h"

TG_API_BEGIN

#define TG_ONNX_OPSET 13           /* the default-domain operator set the file imports */
#define TG_ONNX_IR_VERSION 7       /* the ONNX IR version that goes with opset 13 */
#define TG_ONNX_INPUT "image"      /* graph input (N, C, H, W) float, N dynamic */
#define TG_ONNX_OUTPUT "embedding" /* graph output (N, D) float */

/* Encode the tower of `model` (its current parameters and running statistics) as
 * an ONNX ModelProto into a malloc'ed buffer (*data, *size; free() it). A layer
 * whose op has no ONNX mapping gives TG_ERR_UNKNOWN naming the layer, its op and
 * its place in the model file. */
tg_status tg_onnx_encode(tg_model *model, uint8_t **data, size_t *size);
/* tg_onnx_encode, then write the bytes to `path` (a temporary file renamed into
 * place, so a failed export leaves no partial file). */
tg_status tg_onnx_export(tg_model *model, const char *path);

TG_API_END

#endif
