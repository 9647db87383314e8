/* The MPI communicator: a duplicate of a program's MPI_Comm with MPI_ERRORS_RETURN,
 * so a failed call becomes a tg_status (and tg_comm_failed) instead of an abort
 * inside the library. Counts above INT_MAX elements go in pieces. */
#include "dist/tg_comm_impl.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mpi_impl {
    MPI_Comm comm;
    int finalize; /* we initialised MPI, so the last free finalises it */
    char kind[96];
} mpi_impl;

static MPI_Comm comm_of(const tg_comm *c) {
    return ((const mpi_impl *)c->impl)->comm;
}

/* An MPI error code -> a tg error naming the call; marks the communicator failed. */
static tg_status check(tg_comm *c, int rc, const char *call) {
    if (rc == MPI_SUCCESS) return TG_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    c->failed = 1;
    return tg_error(TG_ERR_IO, "MPI: %s failed on rank %d of %d: %s", call, c->rank, c->size, text);
}

enum { PIECE = 1 << 28 }; /* elements per call: well inside MPI's int counts */

static const char *mpi_kind(const tg_comm *c) {
    return ((const mpi_impl *)c->impl)->kind;
}

static tg_status mpi_allreduce_sum(tg_comm *c, float *buf, int64_t n) {
    for (int64_t i = 0; i < n; i += PIECE) {
        int k = (int)(n - i < PIECE ? n - i : PIECE);
        tg_status st =
            check(c, MPI_Allreduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM, comm_of(c)),
                  "MPI_Allreduce");
        if (st) return st;
    }
    return TG_OK;
}

static tg_status mpi_min_int(tg_comm *c, int *v) {
    return check(c, MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_MIN, comm_of(c)),
                 "MPI_Allreduce");
}

static tg_status mpi_bcast(tg_comm *c, void *buf, size_t bytes, int root) {
    for (size_t i = 0; i < bytes; i += PIECE) {
        int k = (int)(bytes - i < PIECE ? bytes - i : PIECE);
        tg_status st =
            check(c, MPI_Bcast((char *)buf + i, k, MPI_BYTE, root, comm_of(c)), "MPI_Bcast");
        if (st) return st;
    }
    return TG_OK;
}

static tg_status mpi_allgatherv(tg_comm *c, void *buf, const size_t *offsets) {
    int *counts = malloc(2 * (size_t)c->size * sizeof(int));
    if (!counts) return tg_error(TG_ERR_NOMEM, "out of memory");
    int *displs = counts + c->size;
    for (int r = 0; r < c->size; r++) {
        if (offsets[r + 1] < offsets[r] || offsets[r + 1] > INT_MAX) {
            free(counts);
            return tg_error(TG_ERR_LIMIT, "all-gather of %zu bytes: more than MPI's int counts",
                            offsets[c->size]);
        }
        counts[r] = (int)(offsets[r + 1] - offsets[r]);
        displs[r] = (int)offsets[r];
    }
    tg_status st = check(c,
                         MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs,
                                        MPI_BYTE, comm_of(c)),
                         "MPI_Allgatherv");
    free(counts);
    return st;
}

static tg_status mpi_send(tg_comm *c, const float *buf, int64_t n, int to, int tag) {
    for (int64_t i = 0; i < n; i += PIECE) {
        int k = (int)(n - i < PIECE ? n - i : PIECE);
        tg_status st = check(c, MPI_Send(buf + i, k, MPI_FLOAT, to, tag, comm_of(c)), "MPI_Send");
        if (st) return st;
    }
    return TG_OK;
}

static tg_status mpi_recv(tg_comm *c, float *buf, int64_t n, int from, int tag) {
    for (int64_t i = 0; i < n; i += PIECE) {
        int k = (int)(n - i < PIECE ? n - i : PIECE);
        tg_status st =
            check(c, MPI_Recv(buf + i, k, MPI_FLOAT, from, tag, comm_of(c), MPI_STATUS_IGNORE),
                  "MPI_Recv");
        if (st) return st;
    }
    return TG_OK;
}

static void mpi_abort(tg_comm *c, int code) {
    MPI_Abort(comm_of(c), code);
}

static void mpi_free(tg_comm *c) {
    mpi_impl *m = c->impl;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&m->comm);
    if (m->finalize && !finalized) MPI_Finalize();
    free(m);
}

static const tg_comm_backend MPI_BACKEND = {mpi_kind,  mpi_allreduce_sum, mpi_min_int,
                                            mpi_bcast, mpi_allgatherv,    mpi_send,
                                            mpi_recv,  mpi_abort,         mpi_free};

int tg_comm_mpi_available(void) {
    return 1;
}

static tg_status wrap(MPI_Comm base, int finalize, tg_comm **out) {
    tg_comm *c = calloc(1, sizeof *c);
    mpi_impl *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c);
        free(m);
        return tg_error(TG_ERR_NOMEM, "out of memory");
    }
    c->be = &MPI_BACKEND;
    c->impl = m;
    m->finalize = finalize;
    tg_status st = check(c, MPI_Comm_dup(base, &m->comm), "MPI_Comm_dup");
    if (!st)
        st = check(c, MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN),
                   "MPI_Comm_set_errhandler");
    if (!st) st = check(c, MPI_Comm_rank(m->comm, &c->rank), "MPI_Comm_rank");
    if (!st) st = check(c, MPI_Comm_size(m->comm, &c->size), "MPI_Comm_size");
    if (st) {
        free(m);
        free(c);
        return st;
    }
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    version[strcspn(version, ",\n")] = 0; /* "Open MPI v4.1.4, package: ..." -> its name */
    snprintf(m->kind, sizeof m->kind, "MPI (%.80s)", version);
    *out = c;
    return TG_OK;
}

tg_status tg_comm_mpi_world(tg_comm **out) {
    *out = NULL;
    int initialized = 0, provided = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        /* Kernels run OpenMP threads, but only the main thread calls MPI. */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return tg_error(TG_ERR_IO, "MPI: MPI_Init_thread failed");
    }
    return wrap(MPI_COMM_WORLD, !initialized, out);
}

tg_status tg_comm_mpi_wrap(const void *mpi_comm, tg_comm **out) {
    *out = NULL;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) return tg_error(TG_ERR_STATE, "tg_comm_mpi_wrap: MPI is not initialised");
    if (!mpi_comm) return tg_error(TG_ERR_INVALID, "tg_comm_mpi_wrap: no communicator given");
    return wrap(*(const MPI_Comm *)mpi_comm, 0, out);
}
