/* The BLAS kernel choice (a forced generic kernel is reported and warned about
 * through the log handler; with no OPENBLAS_CORETYPE the kernel matches the CPU
 * and the environment is left as it was; a kernel the CPU cannot run is replaced)
 * and tg_sgemm against a plain loop.
 * The BLAS loads once per process, so each choice is tested in a forked child. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tg_check.h"
#include "twingrad.h"

static int n_warn, n_info;
static char last_message[1024];

static void capture(tg_log_level level, const char *message, void *user) {
    (void)user;
    if (level == TG_LOG_WARN)
        n_warn++;
    else
        n_info++;
    snprintf(last_message, sizeof last_message, "%s", message);
}

/* Run fn in a child process; its return value (a count of failed checks) is the
 * child's exit status. */
static int in_child(int (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(fn());
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                    \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static int forced_prescott(void) {
    int failures = 0;
    setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    tg_log_set_handler(capture, NULL);
    tg_blas_info info;
    EXPECT(tg_blas_info_get(&info) == TG_OK);
    EXPECT(!strcmp(info.core, "Prescott"));
    EXPECT(info.generic == 1);
    EXPECT(strstr(info.core_origin, "user") != NULL);
    EXPECT(strstr(info.library, "OpenBLAS") != NULL);
    char line[512];
    tg_blas_describe(&info, line, sizeof line);
    EXPECT(strstr(line, "kernel Prescott") != NULL);
    if (strcmp(info.cpu_isa, "SSE2")) { /* any CPU with AVX has a better kernel */
        EXPECT(info.slow_kernel == 1);
        EXPECT(n_warn == 1 && n_info == 0);
        EXPECT(strstr(last_message, "generic fallback Prescott") != NULL);
        EXPECT(strstr(last_message, "OPENBLAS_CORETYPE") != NULL);
        EXPECT(!strcmp(last_message, info.warning));
    }
    /* The warning is sent once, not on every query. */
    EXPECT(tg_blas_info_get(&info) == TG_OK);
    EXPECT(n_warn + n_info <= 1);
    EXPECT(!strcmp(getenv("OPENBLAS_CORETYPE"), "Prescott")); /* the user's value kept */
    return failures;
}

START_TEST(test_blas_reports_forced_generic_kernel) {
    ck_assert_int_eq(in_child(forced_prescott), 0);
}
END_TEST

/* OPENBLAS_CORETYPE=SkylakeX: on a CPU without AVX-512 its kernels would stop the
 * process at the first GEMM with an illegal instruction, so it is set aside for
 * the load with a warning (and left in the environment); on one with AVX-512 it
 * is the user's choice and runs. Either way a GEMM gives the right numbers. */
static int forced_avx512(void) {
    int failures = 0;
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    tg_log_set_handler(capture, NULL);
    tg_blas_info info;
    EXPECT(tg_blas_info_get(&info) == TG_OK);
    if (!strcmp(info.cpu_isa, "AVX-512")) {
        EXPECT(!strcmp(info.core, "SkylakeX"));
        EXPECT(strstr(info.core_origin, "set by the user") != NULL);
    } else {
        EXPECT(strcmp(info.core, "SkylakeX") != 0);
        EXPECT(strstr(info.core_origin, "replacing OPENBLAS_CORETYPE") != NULL);
        EXPECT(n_warn == 1);
        EXPECT(strstr(last_message, "OPENBLAS_CORETYPE=SkylakeX") != NULL);
        EXPECT(strstr(last_message, "illegal instruction") != NULL);
        EXPECT(!strcmp(last_message, info.warning));
    }
    EXPECT(!strcmp(getenv("OPENBLAS_CORETYPE"), "SkylakeX")); /* the user's value kept */
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};     /* row-major 2x2 */
    float c[4] = {0};
    tg_blas_gemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    EXPECT(c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50);
    return failures;
}

START_TEST(test_blas_never_runs_a_kernel_the_cpu_lacks) {
    ck_assert_int_eq(in_child(forced_avx512), 0);
}
END_TEST

static int unset_coretype(void) {
    int failures = 0;
    unsetenv("OPENBLAS_CORETYPE");
    tg_log_set_handler(capture, NULL);
    tg_blas_info info;
    EXPECT(tg_blas_info_get(&info) == TG_OK);
    EXPECT(getenv("OPENBLAS_CORETYPE") == NULL); /* set only for the load */
    EXPECT(info.slow_kernel == 0);
    EXPECT(info.generic == 0 || !strcmp(info.cpu_isa, "SSE2"));
    EXPECT(n_warn == 0);
    if (!strcmp(info.cpu_isa, "AVX2") || !strcmp(info.cpu_isa, "AVX-512")) {
        EXPECT(!strcmp(info.core_isa, info.cpu_isa));
        EXPECT(!strcmp(info.core_origin, "chosen by twingrad from cpuid"));
    }
    return failures;
}

START_TEST(test_blas_matches_kernel_to_cpu_without_env) {
    ck_assert_int_eq(in_child(unset_coretype), 0);
}
END_TEST

/* tg_blas_gemm against a plain loop, for every transpose combination, with beta = 0
 * over garbage and beta = 1 accumulating. (tg_sgemm, which splits the same calls
 * across threads, is internal: every op's gradcheck goes through it.) */
START_TEST(test_blas_gemm_matches_plain_loop) {
    enum { M = 37, N = 70, K = 53 };
    static float A[M * K], B[K * N], C[M * N], R[M * N];
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    for (int i = 0; i < M * K; i++) A[i] = (float)tg_rng_uniform(&rng) - 0.5f;
    for (int i = 0; i < K * N; i++) B[i] = (float)tg_rng_uniform(&rng) - 0.5f;
    for (int t = 0; t < 8; t++) {
        int ta = t & 1, tb = (t >> 1) & 1, acc = t >> 2;
        int lda = ta ? M : K, ldb = tb ? K : N;
        for (int i = 0; i < M * N; i++) C[i] = R[i] = acc ? (float)(i % 5) : 1e30f;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int k = 0; k < K; k++)
                    s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                         (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
                R[i * N + j] = (float)(0.5 * s + (acc ? R[i * N + j] : 0.0));
            }
        tg_blas_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, N);
        for (int i = 0; i < M * N; i++) ck_assert_float_eq_tol(C[i], R[i], 1e-4f);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("blas");
    TCase *tc = tcase_create("blas");
    tcase_add_test(tc, test_blas_reports_forced_generic_kernel);
    tcase_add_test(tc, test_blas_matches_kernel_to_cpu_without_env);
    tcase_add_test(tc, test_blas_never_runs_a_kernel_the_cpu_lacks);
    tcase_add_test(tc, test_blas_gemm_matches_plain_loop);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
