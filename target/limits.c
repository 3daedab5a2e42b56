/* SPDX-License-Identifier: MIT */
/*
 * Admission of connections: caps per port and per host address, so that
 * nobody on the network can make the daemon hold an unbounded number of
 * sockets (docs/security.md). Checked at accept, before a byte is read;
 * a connection over a cap is closed at once.
 *
 * Per-address counts live in a small hash table under a mutex: it is
 * touched once when a connection arrives and once when it is freed, never
 * per command.
 */
#define LOG_TAG "limits"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "target/target.h"

#define ADDR_BUCKETS 1024

struct addr_entry {
	uint8_t addr[16];             /* IPv4 as ::ffff:a.b.c.d */
	unsigned conns;
	struct addr_entry *next;
};

struct nvmf_addr_table {
	pthread_mutex_t lock;
	struct addr_entry *buckets[ADDR_BUCKETS];
};

void nvmf_addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static unsigned addr_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % ADDR_BUCKETS;
}

void nvmf_addr_str(const struct sockaddr_storage *ss, char *out, size_t len)
{
	const void *a = NULL;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (!a || !inet_ntop(ss->ss_family, a, out, (socklen_t)len))
		snprintf(out, len, "?");
}

int nvmf_addr_table_init(struct nvmf_tgt *t)
{
	struct nvmf_addr_table *at = calloc(1, sizeof(*at));

	if (!at)
		return -ENOMEM;
	pthread_mutex_init(&at->lock, NULL);
	t->addrs = at;
	return 0;
}

void nvmf_addr_table_fini(struct nvmf_tgt *t)
{
	struct nvmf_addr_table *at = t->addrs;

	if (!at)
		return;
	for (unsigned i = 0; i < ADDR_BUCKETS; i++) {
		while (at->buckets[i]) {
			struct addr_entry *e = at->buckets[i];

			at->buckets[i] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&at->lock);
	free(at);
	t->addrs = NULL;
}

void nvmf_tgt_set_limits(struct nvmf_tgt *t, const struct config *cfg)
{
	const struct cfg_bridge *b = &cfg->bridge;
	struct nvmf_limits l = {
		.icreq_timeout_ms = b->icreq_timeout_ms,
		.connect_timeout_ms = b->connect_timeout_ms,
		.max_conns_per_port = b->max_conns_per_port,
		.max_conns_per_addr = b->max_conns_per_addr,
		.max_ctrls_per_host = b->max_ctrls_per_host,
	};

	/* reactors read single fields; a torn set across fields during a
	 * reload is harmless (each field is a complete old or new value) */
	__atomic_store_n(&t->limits.icreq_timeout_ms, l.icreq_timeout_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&t->limits.connect_timeout_ms, l.connect_timeout_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&t->limits.max_conns_per_port, l.max_conns_per_port, __ATOMIC_RELAXED);
	__atomic_store_n(&t->limits.max_conns_per_addr, l.max_conns_per_addr, __ATOMIC_RELAXED);
	__atomic_store_n(&t->limits.max_ctrls_per_host, l.max_ctrls_per_host, __ATOMIC_RELAXED);
}

int nvmf_conn_admit(struct nvmf_port *p, const uint8_t key[16], const char **why)
{
	struct nvmf_tgt *t = p->tgt;
	struct nvmf_addr_table *at = t->addrs;
	uint32_t max_port = __atomic_load_n(&t->limits.max_conns_per_port, __ATOMIC_RELAXED);
	uint32_t max_addr = __atomic_load_n(&t->limits.max_conns_per_addr, __ATOMIC_RELAXED);
	struct addr_entry *e, **bucket;

	if (__atomic_add_fetch(&p->nr_conns, 1, __ATOMIC_RELAXED) > max_port) {
		__atomic_sub_fetch(&p->nr_conns, 1, __ATOMIC_RELAXED);
		*why = "max_connections_per_port";
		nvmf_count_refused(t, NVMF_REFUSE_PORT_CAP);
		return -EBUSY;
	}
	pthread_mutex_lock(&at->lock);
	bucket = &at->buckets[addr_hash(key)];
	for (e = *bucket; e; e = e->next)
		if (!memcmp(e->addr, key, 16))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&at->lock);
			__atomic_sub_fetch(&p->nr_conns, 1, __ATOMIC_RELAXED);
			*why = "out of memory";
			return -ENOMEM;
		}
		memcpy(e->addr, key, 16);
		e->next = *bucket;
		*bucket = e;
	}
	if (e->conns >= max_addr) {
		pthread_mutex_unlock(&at->lock);
		__atomic_sub_fetch(&p->nr_conns, 1, __ATOMIC_RELAXED);
		*why = "max_connections_per_address";
		nvmf_count_refused(t, NVMF_REFUSE_ADDR_CAP);
		return -EBUSY;
	}
	e->conns++;
	pthread_mutex_unlock(&at->lock);
	return 0;
}

void nvmf_conn_release(struct nvmf_port *p, const uint8_t key[16])
{
	struct nvmf_addr_table *at = p->tgt->addrs;
	struct addr_entry **pp;

	__atomic_sub_fetch(&p->nr_conns, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&at->lock);
	for (pp = &at->buckets[addr_hash(key)]; *pp; pp = &(*pp)->next) {
		struct addr_entry *e = *pp;

		if (memcmp(e->addr, key, 16))
			continue;
		if (!--e->conns) {
			*pp = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&at->lock);
}
