/* The protocol-buffers wire format (https://protobuf.dev/programming-guides/encoding/):
 * every field is a varint key (field number << 3 | wire type) and a value; wire type
 * 0 is a varint, 2 a varint length and that many bytes, 5 four little-endian bytes. */
#include "export/tg_pb.h"

#include <stdlib.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

void tg_pb_free(tg_pb *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Room for n more bytes; 0 (and b->failed) when it cannot be had. */
static int reserve(tg_pb *b, size_t n) {
    if (b->failed) return 0;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return 0;
    }
    if (b->len + n <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return 0;
    }
    b->data = d;
    b->cap = cap;
    return 1;
}

static void put(tg_pb *b, const void *data, size_t n) {
    if (n && reserve(b, n)) {
        memcpy(b->data + b->len, data, n);
        b->len += n;
    }
}

static void varint(tg_pb *b, uint64_t v) {
    uint8_t buf[10];
    int n = 0;
    do {
        buf[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) buf[n] |= 0x80;
        n++;
    } while (v);
    put(b, buf, (size_t)n);
}

static void key(tg_pb *b, int field, int wire) {
    varint(b, ((uint64_t)field << 3) | (unsigned)wire);
}

void tg_pb_int(tg_pb *b, int field, int64_t v) {
    key(b, field, WIRE_VARINT);
    varint(b, (uint64_t)v); /* two's complement: a negative int64 is ten bytes */
}

static void le32(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

void tg_pb_float(tg_pb *b, int field, float v) {
    uint8_t p[4];
    le32(p, v);
    key(b, field, WIRE_FIXED32);
    put(b, p, 4);
}

void tg_pb_bytes(tg_pb *b, int field, const void *data, size_t len) {
    key(b, field, WIRE_LEN);
    varint(b, len);
    put(b, data, len);
}

void tg_pb_str(tg_pb *b, int field, const char *s) {
    tg_pb_bytes(b, field, s, strlen(s));
}

void tg_pb_msg(tg_pb *b, int field, const tg_pb *sub) {
    if (sub->failed) b->failed = 1;
    tg_pb_bytes(b, field, sub->data, sub->len);
}

void tg_pb_packed_ints(tg_pb *b, int field, const int64_t *v, int n) {
    tg_pb packed = {0};
    for (int i = 0; i < n; i++) varint(&packed, (uint64_t)v[i]);
    tg_pb_msg(b, field, &packed);
    tg_pb_free(&packed);
}

void tg_pb_raw_floats(tg_pb *b, int field, const float *v, size_t n) {
    if (n > SIZE_MAX / 8) {
        b->failed = 1;
        return;
    }
    key(b, field, WIRE_LEN);
    varint(b, n * 4);
    if (!reserve(b, n * 4)) return;
    for (size_t i = 0; i < n; i++) le32(b->data + b->len + 4 * i, v[i]);
    b->len += n * 4;
}
