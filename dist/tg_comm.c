/* What every communicator shares (argument checks, agreement on an outcome) and the
 * single-process kind. The MPI kind lives in tg_comm_mpi.c, built with --with-mpi. */
#include "dist/tg_comm_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tg_comm_launched(void) {
    /* Open MPI's mpirun, PMIx launchers (srun --mpi=pmix), MPICH/Hydra and PMI-1/2 srun. */
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

/* ---- the local kind: one rank, nothing to exchange ---- */

static const char *local_kind(const tg_comm *c) {
    (void)c;
    return "local";
}
static tg_status local_allreduce_sum(tg_comm *c, float *buf, int64_t n) {
    (void)c, (void)buf, (void)n;
    return TG_OK;
}
static tg_status local_min_int(tg_comm *c, int *v) {
    (void)c, (void)v;
    return TG_OK;
}
static tg_status local_bcast(tg_comm *c, void *buf, size_t bytes, int root) {
    (void)c, (void)buf, (void)bytes, (void)root;
    return TG_OK;
}
static tg_status local_allgatherv(tg_comm *c, void *buf, const size_t *offsets) {
    (void)c, (void)buf, (void)offsets;
    return TG_OK;
}
/* A single rank never sends to another; reaching these is a caller's bug. */
static tg_status local_send(tg_comm *c, const float *buf, int64_t n, int to, int tag) {
    (void)c, (void)buf, (void)n, (void)tag;
    return tg_error(TG_ERR_INVALID, "send to rank %d in a communicator of one process", to);
}
static tg_status local_recv(tg_comm *c, float *buf, int64_t n, int from, int tag) {
    (void)c, (void)buf, (void)n, (void)tag;
    return tg_error(TG_ERR_INVALID, "receive from rank %d in a communicator of one process", from);
}
static void local_abort(tg_comm *c, int code) {
    (void)c, (void)code;
}
static void local_free(tg_comm *c) {
    (void)c;
}

static const tg_comm_backend LOCAL = {local_kind,  local_allreduce_sum, local_min_int,
                                      local_bcast, local_allgatherv,    local_send,
                                      local_recv,  local_abort,         local_free};

tg_status tg_comm_local(tg_comm **out) {
    *out = NULL;
    tg_comm *c = calloc(1, sizeof *c);
    if (!c) return tg_error(TG_ERR_NOMEM, "out of memory");
    c->rank = 0;
    c->size = 1;
    c->be = &LOCAL;
    *out = c;
    return TG_OK;
}

#ifndef TG_HAVE_MPI
int tg_comm_mpi_available(void) {
    return 0;
}
tg_status tg_comm_mpi_world(tg_comm **out) {
    *out = NULL;
    return tg_error(TG_ERR_STATE, "twingrad was built without MPI; configure --with-mpi (Debian: "
                                  "apt-get install libopenmpi-dev openmpi-bin) to train over MPI");
}
tg_status tg_comm_mpi_wrap(const void *mpi_comm, tg_comm **out) {
    (void)mpi_comm;
    return tg_comm_mpi_world(out);
}
#endif

/* ---- shared by every kind ---- */

void tg_comm_free(tg_comm *c) {
    if (!c) return;
    c->be->free(c);
    free(c);
}

int tg_comm_rank(const tg_comm *c) {
    return c ? c->rank : 0;
}
int tg_comm_size(const tg_comm *c) {
    return c ? c->size : 1;
}
const char *tg_comm_kind(const tg_comm *c) {
    return c->be->kind(c);
}
int tg_comm_failed(const tg_comm *c) {
    return c && c->failed;
}
void tg_comm_abort(tg_comm *c, int code) {
    c->be->abort(c, code);
}

tg_status tg_comm_allreduce_sum(tg_comm *c, float *buf, int64_t n) {
    if (n < 0 || (n > 0 && !buf))
        return tg_error(TG_ERR_INVALID, "all-reduce of %lld floats at %p", (long long)n,
                        (void *)buf);
    return c->be->allreduce_sum(c, buf, n);
}

tg_status tg_comm_any(tg_comm *c, int flag, int *any) {
    int v = flag ? 0 : 1; /* min over ranks is 0 when some rank has the flag */
    tg_status st = c->be->allreduce_min_int(c, &v);
    *any = st ? flag != 0 : v == 0;
    return st;
}

tg_status tg_comm_bcast(tg_comm *c, void *buf, size_t bytes, int root) {
    if (root < 0 || root >= c->size)
        return tg_error(TG_ERR_INVALID, "broadcast from rank %d of %d", root, c->size);
    return c->be->bcast(c, buf, bytes, root);
}

tg_status tg_comm_allgatherv(tg_comm *c, void *buf, const size_t *offsets) {
    return c->be->allgatherv(c, buf, offsets);
}
tg_status tg_comm_send(tg_comm *c, const float *buf, int64_t n, int to, int tag) {
    return c->be->send(c, buf, n, to, tag);
}
tg_status tg_comm_recv(tg_comm *c, float *buf, int64_t n, int from, int tag) {
    return c->be->recv(c, buf, n, from, tag);
}

tg_status tg_comm_agree(tg_comm *c, tg_status st) {
    if (c->size == 1) return st;
    int first = st ? c->rank : c->size;
    tg_status cst = c->be->allreduce_min_int(c, &first);
    if (cst) return cst;
    if (first == c->size) return TG_OK;
    /* The failing rank's status and message, so rank 0 (which prints) can say what failed. */
    struct {
        int status;
        char message[1020];
    } why = {0};
    if (c->rank == first) {
        why.status = (int)st;
        snprintf(why.message, sizeof why.message, "%s", tg_last_error());
    }
    if ((cst = c->be->bcast(c, &why, sizeof why, first))) return cst;
    if (c->rank == first) return st;
    if (first == 0) return tg_error((tg_status)why.status, "%s", why.message);
    return tg_error((tg_status)why.status, "rank %d: %s", first, why.message);
}
