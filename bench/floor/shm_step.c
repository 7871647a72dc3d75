// Floor of a local data-parallel step at batch 128 on 784-256-128-10: P processes, each computing
// its 128/P examples with OpenBLAS (one thread), the gradients in shared memory, each process adding
// and updating (sgd) its 1/P of the parameters, two barriers a step (spin, then futex).
// Usage: shm_step PROCS STEPS SPIN [coordinator]
//   PROCS 1: one process, 128 examples, no barrier. With "coordinator": a further, unpinned process
//   adds the gradients and updates all the parameters while the PROCS workers wait (the shape of
//   a coordinator's step, without its messages).
#define _GNU_SOURCE
#include <cblas.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <math.h>

enum { N0 = 784, N1 = 256, N2 = 128, N3 = 10, BATCH = 128 };
static const long W1 = 0, B1 = N1 * N0, W2 = B1 + N1, B2 = W2 + N2 * N1, W3 = B2 + N2, B3 = W3 + N3 * N2,
                  COUNT = B3 + N3;

typedef struct { _Atomic uint32_t arrived, generation; } Barrier;
static long spinLimit;

static void futexWait(_Atomic uint32_t *a, uint32_t v) { syscall(SYS_futex, a, FUTEX_WAIT, v, NULL, NULL, 0); }
static void futexWake(_Atomic uint32_t *a) { syscall(SYS_futex, a, FUTEX_WAKE, 64, NULL, NULL, 0); }

static void barrier(Barrier *b, uint32_t parties) {
    uint32_t gen = atomic_load(&b->generation);
    if (atomic_fetch_add(&b->arrived, 1) + 1 == parties) {
        atomic_store(&b->arrived, 0);
        atomic_fetch_add(&b->generation, 1);
        futexWake(&b->generation);
        return;
    }
    for (long i = 0; i < spinLimit; i++) {
        if (atomic_load(&b->generation) != gen) return;
        __builtin_ia32_pause();
    }
    while (atomic_load(&b->generation) == gen) futexWait(&b->generation, gen);
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

// Forward and backward on m examples (columns of x), the gradient's sums into g.
static void backprop(const float *p, const float *x, const int *y, int m, float *g, float *ws) {
    float *z1 = ws, *z2 = z1 + N1 * m, *z3 = z2 + N2 * m, *d2 = z3 + N3 * m, *d1 = d2 + N2 * m;
    for (int i = 0; i < N1; i++) for (int j = 0; j < m; j++) z1[i * m + j] = p[B1 + i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N1, m, N0, 1, p + W1, N0, x, m, 1, z1, m);
    for (long k = 0; k < N1 * m; k++) z1[k] = z1[k] > 0 ? z1[k] : 0;
    for (int i = 0; i < N2; i++) for (int j = 0; j < m; j++) z2[i * m + j] = p[B2 + i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N2, m, N1, 1, p + W2, N1, z1, m, 1, z2, m);
    for (long k = 0; k < N2 * m; k++) z2[k] = z2[k] > 0 ? z2[k] : 0;
    for (int i = 0; i < N3; i++) for (int j = 0; j < m; j++) z3[i * m + j] = p[B3 + i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N3, m, N2, 1, p + W3, N2, z2, m, 1, z3, m);
    for (int j = 0; j < m; j++) {  // softmax, minus the one-hot label
        float top = z3[j], s = 0;
        for (int i = 1; i < N3; i++) top = fmaxf(top, z3[i * m + j]);
        for (int i = 0; i < N3; i++) { z3[i * m + j] = expf(z3[i * m + j] - top); s += z3[i * m + j]; }
        for (int i = 0; i < N3; i++) z3[i * m + j] = z3[i * m + j] / s - (i == y[j]);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N3, N2, m, 1, z3, m, z2, m, 0, g + W3, N2);
    for (int i = 0; i < N3; i++) { float s = 0; for (int j = 0; j < m; j++) s += z3[i * m + j]; g[B3 + i] = s; }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N2, m, N3, 1, p + W3, N2, z3, m, 0, d2, m);
    for (long k = 0; k < N2 * m; k++) d2[k] = z2[k] > 0 ? d2[k] : 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N2, N1, m, 1, d2, m, z1, m, 0, g + W2, N1);
    for (int i = 0; i < N2; i++) { float s = 0; for (int j = 0; j < m; j++) s += d2[i * m + j]; g[B2 + i] = s; }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N1, m, N2, 1, p + W2, N1, d2, m, 0, d1, m);
    for (long k = 0; k < N1 * m; k++) d1[k] = z1[k] > 0 ? d1[k] : 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N1, N0, m, 1, d1, m, x, m, 0, g + W1, N0);
    for (int i = 0; i < N1; i++) { float s = 0; for (int j = 0; j < m; j++) s += d1[i * m + j]; g[B1 + i] = s; }
}

int main(int argc, char **argv) {
    int procs = argc > 1 ? atoi(argv[1]) : 2;
    long steps = argc > 2 ? atol(argv[2]) : 2000;
    spinLimit = argc > 3 ? atol(argv[3]) : 20000;
    int coordinator = argc > 4 && strcmp(argv[4], "coordinator") == 0;
    int parties = procs + coordinator;
    size_t bytes = sizeof(Barrier) * 2 + 64 + sizeof(float) * COUNT * (1 + procs) + sizeof(double) * 8;
    char *shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    Barrier *barriers = (Barrier *)shared;
    float *p = (float *)(shared + 64 + sizeof(Barrier) * 2);
    float *grads = p + COUNT;
    double *elapsed = (double *)(grads + COUNT * procs);
    srand(1);
    for (long i = 0; i < COUNT; i++) p[i] = ((float)rand() / RAND_MAX - 0.5f) * 0.1f;
    if (coordinator && fork() == 0) {
        double start = 0;
        for (long s = 0; s < steps; s++) {
            if (s == steps / 10) start = now();
            barrier(&barriers[0], parties);
            for (long i = 0; i < COUNT; i++) {
                float sum = grads[i];
                for (int q = 1; q < procs; q++) sum += grads[COUNT * q + i];
                p[i] -= 0.01f * (sum / BATCH);
            }
            barrier(&barriers[1], parties);
        }
        (void)start;
        _exit(0);
    }
    for (int r = 0; r < procs; r++) {
        if ((procs > 1 || coordinator) && fork() != 0) continue;
        cpu_set_t set; CPU_ZERO(&set); CPU_SET(r % 2, &set); sched_setaffinity(0, sizeof set, &set);
        int m = BATCH / procs;
        float *x = malloc(sizeof(float) * N0 * m), *ws = malloc(sizeof(float) * (N1 + N2 + N3 + N2 + N1) * m);
        int *y = malloc(sizeof(int) * m);
        for (long k = 0; k < N0 * m; k++) x[k] = (float)rand() / RAND_MAX;
        for (int j = 0; j < m; j++) y[j] = rand() % N3;
        long lo = COUNT / procs * r / 16 * 16, hi = r == procs - 1 ? COUNT : COUNT / procs * (r + 1) / 16 * 16;
        double start = 0;
        for (long s = 0; s < steps; s++) {
            if (s == steps / 10) start = now();
            backprop(p, x, y, m, grads + COUNT * r, ws);
            if (parties > 1) barrier(&barriers[0], parties);
            for (long i = lo; i < hi && !coordinator; i++) {
                float sum = grads[i];
                for (int q = 1; q < procs; q++) sum += grads[COUNT * q + i];
                p[i] -= 0.01f * (sum / BATCH);
            }
            if (parties > 1) barrier(&barriers[1], parties);
        }
        elapsed[r] = (now() - start) / (steps - steps / 10);
        if (procs > 1 || coordinator) _exit(0);
    }
    if (procs > 1 || coordinator) while (wait(NULL) > 0) {}
    printf("procs %d%s spin %ld: %.3f ms a step\n", procs, coordinator ? " + coordinator" : "", spinLimit,
           elapsed[0] * 1e3);
    return 0;
}
