/*
 * trace-burner: burns CPU to follow a demand series, one value per step (examples/trace-burner.yaml).
 *
 *   burner STEP_SECONDS CORES,CORES,...   (or the env TRACE_STEP and TRACE_CORES)
 *
 * Each step is cut into 10 ms periods (short against the kernel's 100 ms CFS period, so a limit
 * at or above the demand does not throttle it); in each, every worker thread burns its share of the
 * step's demand in CPU time (CLOCK_THREAD_CPUTIME_ID), then sleeps to the period's end. Under a
 * CPU limit below the demand the kernel throttles it: the work not done in a period is dropped,
 * not queued (demand, not a backlog). Prints one line per step with the wall time, then exits 0.
 * Static (no libc from the host): built by scripts/trace-burner.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 4
#define PERIOD_NS 10000000LL  /* 10 ms: smooth against the kernel's 100 ms CFS period */

static double demand;             /* cores, this step */
static volatile int finished;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *worker(void *arg) {
    long index = (long)arg;
    long long period = now_ns(CLOCK_MONOTONIC) / PERIOD_NS * PERIOD_NS;
    while (!finished) {
        pthread_mutex_lock(&lock);
        double d = demand;
        pthread_mutex_unlock(&lock);
        /* Worker i takes the part of the demand between i and i+1 cores. */
        double share = d - (double)index;
        share = share < 0 ? 0 : share > 1 ? 1 : share;
        long long budget = (long long)(share * PERIOD_NS);
        long long start = now_ns(CLOCK_THREAD_CPUTIME_ID);
        long long end = period + PERIOD_NS;
        volatile unsigned long spin = 0;
        while (now_ns(CLOCK_THREAD_CPUTIME_ID) - start < budget && now_ns(CLOCK_MONOTONIC) < end) {
            for (int i = 0; i < 2000; i++) spin++;
        }
        long long left = end - now_ns(CLOCK_MONOTONIC);
        if (left > 0) {
            struct timespec s = { left / 1000000000LL, left % 1000000000LL };
            nanosleep(&s, NULL);
        }
        period = now_ns(CLOCK_MONOTONIC) / PERIOD_NS * PERIOD_NS;
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *step_text = argc > 1 ? argv[1] : getenv("TRACE_STEP");
    const char *series = argc > 2 ? argv[2] : getenv("TRACE_CORES");
    if (!step_text || !series) {
        fprintf(stderr, "usage: burner STEP_SECONDS CORES,CORES,... (or TRACE_STEP and TRACE_CORES)\n");
        return 2;
    }
    char *end;
    double step = strtod(step_text, &end);
    if (*end || !(step > 0 && step <= 3600)) {
        fprintf(stderr, "burner: step '%s' must be seconds from 0 to 3600\n", step_text);
        return 2;
    }
    char *copy = strdup(series);
    int count = 0;
    double *values = NULL;
    for (char *p = strtok(copy, ","); p; p = strtok(NULL, ",")) {
        double v = strtod(p, &end);
        if (*end || !(v >= 0 && v <= WORKERS)) {
            fprintf(stderr, "burner: value %d '%s' must be cores from 0 to %d\n", count + 1, p, WORKERS);
            return 2;
        }
        values = realloc(values, sizeof(double) * (count + 1));
        values[count++] = v;
    }
    pthread_t threads[WORKERS];
    for (long i = 0; i < WORKERS; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < count; i++) {
        pthread_mutex_lock(&lock);
        demand = values[i];
        pthread_mutex_unlock(&lock);
        printf("step %d demand %.3f cores at %.3f\n", i, values[i], (double)now_ns(CLOCK_REALTIME) / 1e9);
        fflush(stdout);
        long long until = t0 + (long long)((i + 1) * step * 1e9);
        long long left = until - now_ns(CLOCK_MONOTONIC);
        if (left > 0) {
            struct timespec s = { left / 1000000000LL, left % 1000000000LL };
            nanosleep(&s, NULL);
        }
    }
    finished = 1;
    for (int i = 0; i < WORKERS; i++) pthread_join(threads[i], NULL);
    printf("done: %d steps\n", count);
    return 0;
}
