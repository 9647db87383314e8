/* A minimal protocol-buffers writer for the ONNX exporter (not installed): varints,
 * length-delimited fields and fixed32 floats into a growable byte buffer. A nested
 * message is written into a buffer of its own, then appended as one field; the
 * first failure (out of memory) sticks, so callers check once at the end. */
#ifndef TG_PB_H
#define TG_PB_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_pb {
    uint8_t *data;
    size_t len, cap;
    int failed; /* 1 after an allocation failed: later writes do nothing */
} tg_pb;

/* Release the bytes and reset the buffer to empty (a zeroed tg_pb is a valid empty one). */
void tg_pb_free(tg_pb *b);
/* Field `field` as a varint (int32/int64/enum/bool fields; negative values take 10 bytes). */
void tg_pb_int(tg_pb *b, int field, int64_t v);
/* Field `field` as a float (fixed32, little-endian). */
void tg_pb_float(tg_pb *b, int field, float v);
/* Field `field` as length-delimited bytes (bytes, string). */
void tg_pb_bytes(tg_pb *b, int field, const void *data, size_t len);
/* Field `field` as a string (NUL-terminated). */
void tg_pb_str(tg_pb *b, int field, const char *s);
/* Field `field` holding the message in `sub` (sub is left as it was). */
void tg_pb_msg(tg_pb *b, int field, const tg_pb *sub);
/* Field `field` as a packed repeated int64 (n values). */
void tg_pb_packed_ints(tg_pb *b, int field, const int64_t *v, int n);
/* Field `field` holding n floats as little-endian bytes (a TensorProto's raw_data). */
void tg_pb_raw_floats(tg_pb *b, int field, const float *v, size_t n);

#endif
