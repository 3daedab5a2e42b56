/*
 * uring_eval: the TCP target's socket pattern, once with epoll + recv +
 * sendmsg (what transport/tcp.c does) and once with io_uring, everything
 * else the same, to see what io_uring would buy the engine on this kernel
 * before the engine is rebuilt around it (issue 10).
 *
 * The "target" (this process, pinned to one CPU) spins on one loopback TCP
 * connection: it takes 72-byte command capsules, and answers each with a
 * 4 KiB read's PDUs (a 24-byte C2HData header, 4096 bytes from a region of
 * REGION_MIB MiB at a random 4 KiB offset, a 24-byte response), the turn's
 * answers gathered into one send. The "host" (a child on another CPU)
 * keeps QD commands outstanding and busy-polls its socket, like
 * spdk_nvme_perf.
 *
 *   epoll   every turn epoll_wait(0); recv when readable; one sendmsg for
 *           the turn's answers
 *   uring   a recv and a sendmsg kept in flight on an io_uring set up with
 *           COOP_TASKRUN and TASKRUN_FLAG: the turn enters the kernel only
 *           when it has something to submit or the kernel flags completions
 *           to run; otherwise it reads the completion ring in memory
 *
 * usage: uring_eval epoll|uring QD SECS [TARGET_CPU HOST_CPU]
 * prints one line: mode, QD, commands per second, the target's CPU seconds
 * and system calls per command.
 *
 * Built by bench/uring_eval.sh (needs Debian's liburing-dev).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMD_LEN    72
#define HDR_LEN    24
#define DATA_LEN   4096
#define RSP_LEN    24
#define ANS_LEN    (HDR_LEN + DATA_LEN + RSP_LEN)
#define REGION_MIB 512
#define RBUF       (64 * 1024)
#define MAX_ANS    256          /* answers gathered per send */

static uint8_t *region;
static uint64_t nblocks;
static uint64_t rng = 88172645463325252ull;
static uint8_t hdr[HDR_LEN], rsp[RSP_LEN];
static uint64_t served, syscalls;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		die("sched_setaffinity");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *random_block(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return region + (rng % nblocks) * DATA_LEN;
}

/* A batch of answers as an iovec list, with what of it is sent already. */
struct batch {
	struct iovec iov[MAX_ANS * 3];
	struct msghdr m;                /* io_uring's sendmsg reads it when issued */
	int cnt, first;
	unsigned answers;
};

static void batch_add(struct batch *b)
{
	b->iov[b->cnt++] = (struct iovec){ hdr, HDR_LEN };
	b->iov[b->cnt++] = (struct iovec){ random_block(), DATA_LEN };
	b->iov[b->cnt++] = (struct iovec){ rsp, RSP_LEN };
	b->answers++;
}

/* n bytes went out: move past them; true when all of it is sent */
static bool batch_sent(struct batch *b, size_t n)
{
	while (b->first < b->cnt && n >= b->iov[b->first].iov_len)
		n -= b->iov[b->first++].iov_len;
	if (b->first < b->cnt) {
		b->iov[b->first].iov_base = (uint8_t *)b->iov[b->first].iov_base + n;
		b->iov[b->first].iov_len -= n;
		return false;
	}
	served += b->answers;
	b->cnt = b->first = 0;
	b->answers = 0;
	return true;
}

/* the capsules received: one answer each; returns the bytes left over */
static size_t take(uint8_t *buf, size_t have, struct batch *b)
{
	size_t off = 0;

	while (have - off >= CMD_LEN && b->answers < MAX_ANS) {
		batch_add(b);
		off += CMD_LEN;
	}
	memmove(buf, buf + off, have - off);
	return have - off;
}

static void run_epoll(int fd)
{
	static uint8_t buf[RBUF];
	static struct batch b;
	struct epoll_event ev = { .events = EPOLLIN }, out;
	size_t have = 0;
	int ep = epoll_create1(0);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll");
	for (;;) {
		int n = epoll_wait(ep, &out, 1, 0);

		syscalls++;
		if (n > 0 && b.answers < MAX_ANS) {
			ssize_t r = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);

			syscalls++;
			if (r == 0)
				return;
			if (r > 0)
				have = take(buf, have + (size_t)r, &b);
		}
		if (have >= CMD_LEN && b.answers < MAX_ANS)
			have = take(buf, have, &b);
		if (b.cnt) {
			struct msghdr m = { .msg_iov = b.iov + b.first, .msg_iovlen = (size_t)(b.cnt - b.first) };
			ssize_t s = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);

			syscalls++;
			if (s > 0)
				batch_sent(&b, (size_t)s);
			else if (s < 0 && errno != EAGAIN)
				return;
		}
	}
}

static void send_prep(struct io_uring *ring, int fd, struct batch *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	b->m = (struct msghdr){ .msg_iov = b->iov + b->first, .msg_iovlen = (size_t)(b->cnt - b->first) };
	io_uring_prep_sendmsg(sqe, fd, &b->m, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, 2);
}

static void run_uring(int fd)
{
	static uint8_t buf[RBUF];
	static struct batch bt[2];      /* one in flight, one filling */
	struct io_uring ring;
	struct io_uring_params p = { .flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG };
	size_t have = 0;
	int fill = 0, to_submit = 0;
	bool recv_out = false, send_out = false;

	if (io_uring_queue_init_params(64, &ring, &p))
		die("io_uring_queue_init_params");
	for (;;) {
		struct io_uring_cqe *cqe;
		struct batch *f = &bt[fill];

		if (!recv_out && f->answers < MAX_ANS && have < sizeof(buf)) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_recv(sqe, fd, buf + have, sizeof(buf) - have, 0);
			io_uring_sqe_set_data64(sqe, 1);
			recv_out = true;
			to_submit++;
		}
		if (!send_out && f->cnt) {
			send_prep(&ring, fd, f);
			send_out = true;
			fill ^= 1;      /* the next answers gather in the other batch */
			to_submit++;
		}
		/* into the kernel only with work for it: submissions, or
		 * completions it flagged as waiting to be run */
		if (to_submit) {
			io_uring_submit_and_get_events(&ring);
			syscalls++;
			to_submit = 0;
		} else if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) {
			io_uring_get_events(&ring);
			syscalls++;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			uint64_t what = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&ring, cqe);
			if (what == 1) {
				recv_out = false;
				if (res <= 0)
					return;
				have = take(buf, have + (size_t)res, &bt[fill]);
			} else {
				struct batch *s = &bt[fill ^ 1];

				send_out = false;
				if (res < 0)
					return;
				if (!batch_sent(s, (size_t)res)) {
					send_prep(&ring, fd, s);        /* the rest, at once */
					send_out = true;
					to_submit++;
				}
			}
		}
		if (have >= CMD_LEN && bt[fill].answers < MAX_ANS)
			have = take(buf, have, &bt[fill]);
	}
}

/* the host: QD commands outstanding, a new one for every answer */
static void host(int port, int qd, double secs)
{
	static uint8_t buf[256 * 1024];
	uint8_t cmds[CMD_LEN * 1024] = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	size_t partial = 0;
	double end;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("host connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (send(fd, cmds, (size_t)qd * CMD_LEN, 0) != (ssize_t)qd * CMD_LEN)
		die("host send");
	end = now_s() + secs;
	while (now_s() < end) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t done;

		if (r <= 0) {
			if (r == 0 || (errno != EAGAIN && errno != EINTR))
				die("host recv");
			continue;
		}
		partial += (size_t)r;
		done = partial / ANS_LEN;
		partial %= ANS_LEN;
		if (done && send(fd, cmds, done * CMD_LEN, 0) != (ssize_t)(done * CMD_LEN))
			die("host send");
	}
	close(fd);
	exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd, fd, qd, one = 1, tcpu = 0, hcpu = 1;
	struct rusage ru0, ru1;
	double secs, t0, t1, cpu;
	pid_t child;
	bool uring;

	if (argc < 4 || (strcmp(argv[1], "epoll") && strcmp(argv[1], "uring"))) {
		fprintf(stderr, "usage: %s epoll|uring QD SECS [TARGET_CPU HOST_CPU]\n", argv[0]);
		return 2;
	}
	uring = !strcmp(argv[1], "uring");
	qd = atoi(argv[2]);
	secs = atof(argv[3]);
	if (argc > 5) {
		tcpu = atoi(argv[4]);
		hcpu = atoi(argv[5]);
	}
	if (qd < 1 || qd > 1024 || secs <= 0)
		return 2;
	region = mmap(NULL, (size_t)REGION_MIB << 20, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (region == MAP_FAILED)
		die("mmap");
	memset(region, 0x5a, (size_t)REGION_MIB << 20);
	nblocks = ((uint64_t)REGION_MIB << 20) / DATA_LEN;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen))
		die("listen");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		pin(hcpu);
		host(ntohs(a.sin_port), qd, secs);
	}
	pin(tcpu);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_s();
	if (uring)
		run_uring(fd);
	else
		run_epoll(fd);
	t1 = now_s();
	getrusage(RUSAGE_SELF, &ru1);
	waitpid(child, NULL, 0);
	cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	printf("%s QD%d: %.0f commands/s, target CPU %.2f s of %.2f s, %.2f us CPU/command, %.2f system calls/command\n",
	       argv[1], qd, (double)served / (t1 - t0), cpu, t1 - t0, cpu * 1e6 / (double)(served ? served : 1),
	       (double)syscalls / (double)(served ? served : 1));
	return 0;
}
