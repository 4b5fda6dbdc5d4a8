/*
 * zmq_bench.c - ZeroMQ loopback comparison benchmark for Backplane.
 *
 * Mirrors `backplane-bench dcl`: both ends live in ONE process (a server
 * thread and a client thread sharing one zmq context) and talk over TCP on
 * 127.0.0.1 only.  Three measurements:
 *
 *   1. RTT      REQ/REP, 64-byte request + 64-byte reply, exactly one request
 *               outstanding.  2,000 untimed warm-up round trips, then N timed
 *               samples (default 20,000), each timed with
 *               clock_gettime(CLOCK_MONOTONIC).  p50/p99 are taken from the
 *               sorted samples (nearest-rank).
 *   2. Stream   PUSH/PULL, 64-byte one-way messages (default 5,000,000).
 *               Rate = count / (time of last receive - time of first send).
 *   3. Bulk     PUSH/PULL, 65,536-byte one-way messages (default 50,000),
 *               reported in GB/s (1e9 bytes/s), timed the same way.
 *
 * For the two streaming tests one untimed message is sent first and the
 * sender waits until the receiver has seen it, so the TCP connection and ZMTP
 * handshake are complete before the clock starts.  ZeroMQ's default
 * high-water marks (1000 messages each side) are left unchanged; PUSH simply
 * blocks when they are reached, which is the flow control being measured.
 *
 * Output: one JSON object on stdout.  Diagnostics go to stderr.
 *
 * Build: cc -O2 -o zmq_bench zmq_bench.c -lzmq     (C99, POSIX threads)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define SMALL_MSG_SIZE 64
#define BULK_MSG_SIZE 65536
#define RTT_WARMUP 2000

/* ------------------------------------------------------------------------ */
/* Error handling: every zmq call is checked; failure aborts the run.      */
/* ------------------------------------------------------------------------ */

static void die(const char *what)
{
    fprintf(stderr, "zmq_bench: %s failed: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

/* For zmq calls that return -1 on failure. */
#define ZCHECK(call)                 \
    do {                             \
        if ((call) == -1) die(#call); \
    } while (0)

/* For zmq calls that return NULL on failure. */
static void *zcheck_ptr(void *p, const char *what)
{
    if (p == NULL) die(what);
    return p;
}

/* Receive a message into buf and insist that it has exactly `expected` bytes. */
static void recv_exact(void *sock, void *buf, size_t expected, const char *what)
{
    int n = zmq_recv(sock, buf, expected, 0);
    if (n == -1) die(what);
    if ((size_t)n != expected) {
        fprintf(stderr, "zmq_bench: %s: expected %zu bytes, got %d\n", what, expected, n);
        exit(1);
    }
}

static double now_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("zmq_bench: clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Socket set-up                                                            */
/* ------------------------------------------------------------------------ */

static void *make_socket(void *ctx, int type)
{
    void *s = zcheck_ptr(zmq_socket(ctx, type), "zmq_socket");
    int linger = 0; /* do not hang in zmq_ctx_term on leftovers */
    ZCHECK(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger));
    return s;
}

/*
 * Create a socket and bind it to 127.0.0.1 (port 0 = ephemeral).  The actual
 * endpoint is written to `endpoint` so the other side can connect to it.
 * The socket is created here on the main thread and then handed to the
 * server thread; pthread_create is the full memory barrier ZeroMQ requires
 * for moving a socket between threads.
 */
static void *bind_loopback(void *ctx, int type, int port, char *endpoint, size_t len)
{
    void *s = make_socket(ctx, type);
    char addr[64];
    if (port > 0)
        snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", port);
    else
        snprintf(addr, sizeof addr, "tcp://127.0.0.1:*");
    ZCHECK(zmq_bind(s, addr));
    ZCHECK(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len));
    return s;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        fprintf(stderr, "zmq_bench: pthread_create failed: %s\n", strerror(rc));
        exit(1);
    }
}

static void join_thread(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    if (rc != 0) {
        fprintf(stderr, "zmq_bench: pthread_join failed: %s\n", strerror(rc));
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* 1. Round-trip latency: REQ/REP, 64 B each way, one outstanding request   */
/* ------------------------------------------------------------------------ */

struct rtt_server {
    void *sock;   /* bound REP socket */
    long rounds;  /* warm-up + timed round trips to serve */
};

/* Server thread: echo a 64-byte reply for every 64-byte request. */
static void *rtt_server_main(void *arg)
{
    struct rtt_server *srv = arg;
    char buf[SMALL_MSG_SIZE];
    for (long i = 0; i < srv->rounds; i++) {
        recv_exact(srv->sock, buf, sizeof buf, "rtt server zmq_recv");
        ZCHECK(zmq_send(srv->sock, buf, sizeof buf, 0));
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of an ascending array. */
static double percentile(const double *sorted, long n, double p)
{
    long rank = (long)(p / 100.0 * (double)n + 0.999999999); /* ceil */
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

static void bench_rtt(void *ctx, int port, long samples, double *p50_us, double *p99_us)
{
    char endpoint[256];
    struct rtt_server srv;
    srv.sock = bind_loopback(ctx, ZMQ_REP, port, endpoint, sizeof endpoint);
    srv.rounds = RTT_WARMUP + samples;

    pthread_t server;
    start_thread(&server, rtt_server_main, &srv);

    /* Client: the calling thread. */
    void *req = make_socket(ctx, ZMQ_REQ);
    ZCHECK(zmq_connect(req, endpoint));

    double *rtt = malloc((size_t)samples * sizeof *rtt);
    if (rtt == NULL) {
        fprintf(stderr, "zmq_bench: out of memory\n");
        exit(1);
    }

    char out[SMALL_MSG_SIZE], in[SMALL_MSG_SIZE];
    memset(out, 'r', sizeof out);

    for (long i = 0; i < RTT_WARMUP + samples; i++) {
        double t0 = now_s();
        ZCHECK(zmq_send(req, out, sizeof out, 0));
        recv_exact(req, in, sizeof in, "rtt client zmq_recv");
        double t1 = now_s();
        if (i >= RTT_WARMUP) rtt[i - RTT_WARMUP] = (t1 - t0) * 1e6; /* µs */
    }

    join_thread(server);
    ZCHECK(zmq_close(req));
    ZCHECK(zmq_close(srv.sock));

    qsort(rtt, (size_t)samples, sizeof *rtt, cmp_double);
    *p50_us = percentile(rtt, samples, 50.0);
    *p99_us = percentile(rtt, samples, 99.0);
    free(rtt);
}

/* ------------------------------------------------------------------------ */
/* 2 + 3. One-way streaming: PUSH/PULL, pipelined                           */
/* ------------------------------------------------------------------------ */

struct stream_receiver {
    void *sock;          /* bound PULL socket */
    long count;          /* timed messages to receive */
    size_t size;         /* expected size of every message */
    double last_recv;    /* CLOCK_MONOTONIC time of the last receive */

    /* "connection is up" hand-shake for the untimed priming message */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int primed;
};

/* Receiver thread: take the priming message, signal, then drain `count`. */
static void *stream_receiver_main(void *arg)
{
    struct stream_receiver *rx = arg;
    zmq_msg_t msg;
    ZCHECK(zmq_msg_init(&msg));

    /* Untimed priming message: proves the TCP/ZMTP connection is up. */
    ZCHECK(zmq_msg_recv(&msg, rx->sock, 0));
    pthread_mutex_lock(&rx->lock);
    rx->primed = 1;
    pthread_cond_signal(&rx->cond);
    pthread_mutex_unlock(&rx->lock);

    /* Timed messages.  zmq_msg_recv avoids copying into a user buffer. */
    for (long i = 0; i < rx->count; i++) {
        int n = zmq_msg_recv(&msg, rx->sock, 0);
        if (n == -1) die("stream receiver zmq_msg_recv");
        if ((size_t)n != rx->size) {
            fprintf(stderr, "zmq_bench: stream receiver: expected %zu bytes, got %d\n",
                    rx->size, n);
            exit(1);
        }
    }
    rx->last_recv = now_s();

    ZCHECK(zmq_msg_close(&msg));
    return NULL;
}

/*
 * Send `count` messages of `size` bytes from the calling (client) thread to a
 * PULL socket served by a receiver thread.  Returns the elapsed seconds from
 * just before the first timed send to the receiver's last receive.
 */
static double bench_stream(void *ctx, int port, long count, size_t size)
{
    char endpoint[256];
    struct stream_receiver rx;
    rx.sock = bind_loopback(ctx, ZMQ_PULL, port, endpoint, sizeof endpoint);
    rx.count = count;
    rx.size = size;
    rx.last_recv = 0.0;
    rx.primed = 0;
    pthread_mutex_init(&rx.lock, NULL);
    pthread_cond_init(&rx.cond, NULL);

    pthread_t receiver;
    start_thread(&receiver, stream_receiver_main, &rx);

    void *push = make_socket(ctx, ZMQ_PUSH);
    ZCHECK(zmq_connect(push, endpoint));

    char *payload = malloc(size);
    if (payload == NULL) {
        fprintf(stderr, "zmq_bench: out of memory\n");
        exit(1);
    }
    memset(payload, 's', size);

    /* Priming message, then wait until the receiver has it. */
    ZCHECK(zmq_send(push, payload, size, 0));
    pthread_mutex_lock(&rx.lock);
    while (!rx.primed) pthread_cond_wait(&rx.cond, &rx.lock);
    pthread_mutex_unlock(&rx.lock);

    /* Timed section: pipelined sends, no acknowledgements. */
    double first_send = now_s();
    for (long i = 0; i < count; i++)
        ZCHECK(zmq_send(push, payload, size, 0));

    join_thread(receiver); /* also publishes rx.last_recv to this thread */
    double elapsed = rx.last_recv - first_send;

    ZCHECK(zmq_close(push));
    ZCHECK(zmq_close(rx.sock));
    pthread_mutex_destroy(&rx.lock);
    pthread_cond_destroy(&rx.cond);
    free(payload);
    return elapsed;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [options]\n"
            "\n"
            "ZeroMQ loopback benchmark (one process, server + client thread, TCP 127.0.0.1).\n"
            "Prints one JSON object on stdout.\n"
            "\n"
            "  --rtt-samples N      timed REQ/REP round trips, after %d warm-ups (default 20000)\n"
            "  --stream-messages N  64-byte PUSH/PULL messages (default 5000000)\n"
            "  --bulk-messages N    65536-byte PUSH/PULL messages (default 50000)\n"
            "  --port P             base TCP port; tests use P, P+1, P+2 (default: ephemeral)\n"
            "  --help               show this help\n",
            argv0, RTT_WARMUP);
}

static long parse_count(const char *flag, const char *value, long min, long max)
{
    if (value == NULL) {
        fprintf(stderr, "zmq_bench: %s needs a value\n", flag);
        exit(2);
    }
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "zmq_bench: bad value for %s: '%s' (expected %ld..%ld)\n",
                flag, value, min, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long rtt_samples = 20000;
    long stream_messages = 5000000;
    long bulk_messages = 50000;
    int port = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (strcmp(a, "--rtt-samples") == 0) {
            rtt_samples = parse_count(a, v, 1, 100000000L); i++;
        } else if (strcmp(a, "--stream-messages") == 0) {
            stream_messages = parse_count(a, v, 1, 2000000000L); i++;
        } else if (strcmp(a, "--bulk-messages") == 0) {
            bulk_messages = parse_count(a, v, 1, 2000000000L); i++;
        } else if (strcmp(a, "--port") == 0) {
            port = (int)parse_count(a, v, 1, 65533); i++;
        } else {
            fprintf(stderr, "zmq_bench: unknown argument '%s'\n", a);
            usage(stderr, argv[0]);
            return 2;
        }
    }

    void *ctx = zcheck_ptr(zmq_ctx_new(), "zmq_ctx_new");

    double p50_us, p99_us;
    bench_rtt(ctx, port, rtt_samples, &p50_us, &p99_us);

    double stream_s = bench_stream(ctx, port ? port + 1 : 0, stream_messages, SMALL_MSG_SIZE);
    double bulk_s = bench_stream(ctx, port ? port + 2 : 0, bulk_messages, BULK_MSG_SIZE);

    ZCHECK(zmq_ctx_term(ctx));

    double msgs_per_s = (double)stream_messages / stream_s;
    double gbytes_per_s = (double)bulk_messages * BULK_MSG_SIZE / bulk_s / 1e9;

    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    printf("{\"zmq_rtt_p50_us\": %.2f, \"zmq_rtt_p99_us\": %.2f, "
           "\"zmq_stream_msgs_per_s\": %.0f, \"zmq_stream_gbytes_per_s\": %.3f, "
           "\"cores\": %ld, \"zmq_version\": \"%d.%d.%d\", "
           "\"samples\": %ld, \"stream_messages\": %ld, \"bulk_messages\": %ld, "
           "\"hwm\": \"default\"}\n",
           p50_us, p99_us, msgs_per_s, gbytes_per_s, cores, major, minor, patch,
           rtt_samples, stream_messages, bulk_messages);
    return 0;
}
