/* SPDX-License-Identifier: MIT */
/*
 * nvmf-bridgectl: the administrator's tool. Two halves that share nothing
 * but the error conventions:
 *   - a JSON-RPC 2.0 client of nvmf-bridged's control socket (docs/rpc.md):
 *     rpc.c (socket, framing, timeout), print.c (human output);
 *   - the device setup helper (setup.c): give PCIe NVMe controllers to
 *     vfio-pci and back to the kernel nvme driver; no daemon needed.
 *
 * Every error is one line on stderr, "nvmf-bridgectl: ...". Exit status:
 * 0 success, 1 refused or failed, 2 usage, 3 the daemon could not be
 * reached (no socket, permission, timeout, an answer that is not JSON-RPC).
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

enum {
	CTL_OK = 0,
	CTL_FAILED = 1,
	CTL_USAGE = 2,
	CTL_UNREACHABLE = 3,
};

#define CTL_DEFAULT_SOCKET "/run/nvmf-bridge/rpc.sock"
#define CTL_DEFAULT_TIMEOUT_S 10

void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- proc.c --------------------------------------------------------------- */

/* fn(target) for each link in fd_dir (/proc/PID/fd), until it returns
 * true: 1 it did, 0 it never did, -1 the directory cannot be read. */
int ctl_fd_links(const char *fd_dir, bool (*fn)(const char *target, void *arg), void *arg);

/* --- rpc.c ---------------------------------------------------------------- */

/* One call on a fresh connection: send {"jsonrpc":"2.0","id":1,"method":
 * method,"params":params} (params may be NULL; the call takes ownership),
 * wait for the answer at most timeout_s seconds in all. On success *result
 * is the "result" member (the caller puts it) and CTL_OK is returned; on a
 * JSON-RPC error the message has been printed and CTL_FAILED is returned;
 * CTL_UNREACHABLE when the daemon could not be reached or did not answer
 * properly (printed too). */
int ctl_rpc_call(const char *sock_path, int timeout_s, const char *method, struct json_object *params,
		 struct json_object **result);

/* --- print.c -------------------------------------------------------------- */

void ctl_print_status(struct json_object *res);
void ctl_print_list(struct json_object *res);
void ctl_print_stats(struct json_object *res);
void ctl_print_json(struct json_object *res);

/* --- setup.c -------------------------------------------------------------- */

int ctl_setup_main(int argc, char **argv);
int ctl_release_main(int argc, char **argv);

/* "01:00.0" or "0000:01:00.0" (any case) -> "0000:01:00.0"; false if not a
 * PCI address */
bool ctl_normalise_bdf(const char *in, char out[16]);

#endif
