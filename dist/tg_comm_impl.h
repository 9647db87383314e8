/* Inside a communicator (not installed): the backend table the MPI and local kinds
 * fill, and the point-to-point and gather calls only the library's own fixed-order
 * reduction and split validation use. */
#ifndef TG_COMM_IMPL_H
#define TG_COMM_IMPL_H

#include "dist/tg_comm.h"

typedef struct tg_comm_backend {
    const char *(*kind)(const tg_comm *c);
    tg_status (*allreduce_sum)(tg_comm *c, float *buf, int64_t n);
    tg_status (*allreduce_min_int)(tg_comm *c, int *v);
    tg_status (*bcast)(tg_comm *c, void *buf, size_t bytes, int root);
    tg_status (*allgatherv)(tg_comm *c, void *buf, const size_t *offsets);
    tg_status (*send)(tg_comm *c, const float *buf, int64_t n, int to, int tag);
    tg_status (*recv)(tg_comm *c, float *buf, int64_t n, int from, int tag);
    void (*abort)(tg_comm *c, int code);
    void (*free)(tg_comm *c);
} tg_comm_backend;

struct tg_comm {
    int rank, size;
    int failed;
    const tg_comm_backend *be;
    void *impl;
};

/* Every rank's block of buf, bytes [offsets[r], offsets[r+1]) for rank r, copied to
 * every rank (offsets has size + 1 entries). */
tg_status tg_comm_allgatherv(tg_comm *c, void *buf, const size_t *offsets);
/* Blocking point-to-point transfer of n floats; tags tell apart transfers between
 * the same two ranks. */
tg_status tg_comm_send(tg_comm *c, const float *buf, int64_t n, int to, int tag);
tg_status tg_comm_recv(tg_comm *c, float *buf, int64_t n, int from, int tag);

#endif
