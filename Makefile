# nvmf-bridge top-level Makefile. Everything builds into build/.
#   make            binaries (build/nvmf-pcie, ...)
#   make check      all tests: unit (plain and ASan+UBSan), fake device, VM
#   make demo       the VM demo
#   make unit       unit + fake-device tests only (no VM)
#   make host-check the daemon on 127.0.0.1 with the test initiator (plain, ASan+UBSan),
#                   and the hostile-network suite (tests/host/hostile.sh)
#   make fuzz       the libFuzzer harnesses for minutes each (tests/fuzz/fuzz.mk);
#                   make fuzz-check (in make check) replays the corpora and runs each briefly
#   make sparse     sparse over the product code: every little-endian wire field
#                   read and written through its accessor (include/nvme/endian.h)
#   make vm-check   VM tests only
#   make bench      the benchmark: bench/results/<date>.json and .md (docs/performance.md);
#                   PEERS=spdk adds SPDK's nvmf_tgt side by side (built when missing)
#   make install    binaries, systemd unit, man pages, docs, examples
#                   (PREFIX=/usr/local, DESTDIR honoured; see below)
CC      ?= gcc
BUILD   ?= build
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)

CPPFLAGS += -Iinclude -I. -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter -fno-strict-aliasing -pthread
# DH-HMAC-CHAP and TLS: OpenSSL (libssl, libcrypto), zlib's CRC-32 for the secrets
LDLIBS   += -pthread -ljson-c -lrdmacm -libverbs -lssl -lcrypto -lz -lmicrohttpd
# sd_notify through libsystemd when present (NO_SYSTEMD=1 builds the no-op stub)
ifeq ($(NO_SYSTEMD),)
ifneq ($(shell pkg-config --exists libsystemd 2>/dev/null && echo y),)
CPPFLAGS += -DHAVE_LIBSYSTEMD
LDLIBS   += $(shell pkg-config --libs libsystemd)
endif
endif
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# library code: every .c in these folders except the programs' main files
LIB_DIRS := common pcie config transport target
LIB_SRCS := $(filter-out %_main.c,$(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
TEST_SUPPORT_SRCS := tests/fake_nvme.c $(wildcard tests/support/*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
# the target core's test harness (fake transport, environment), linked into every unit test
UNIT_HARNESS := tests/unit/tgt_harness.c

PROGS := $(BUILD)/nvmf-pcie $(BUILD)/nvmf-bridged $(BUILD)/nvmf-bridgectl $(if $(wildcard tests/tcp_host_main.c),$(BUILD)/nvmf-test-host) $(BUILD)/nvmf-bridge-perf $(BUILD)/nvmf-attack

LIB_OBJS      := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_SAN_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/san/obj/%.o)
TSUP_OBJS     := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o)
TSUP_SAN_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/san/obj/%.o)
UNIT_BINS     := $(UNIT_TESTS:%=$(BUILD)/tests/%)
UNIT_SAN_BINS := $(UNIT_TESTS:%=$(BUILD)/san/tests/%)

# sparse: product code only (tests build wire data by hand); glibc's
# PTHREAD_MUTEX_INITIALIZER writes 0 for pointers, hence -Wno-non-pointer-null
SPARSE_SRCS  := $(wildcard common/*.c pcie/*.c config/*.c transport/*.c target/*.c ctl/*.c perf/*.c)
SPARSE_FLAGS := -std=gnu11 -fmax-warnings=100000 -Wno-non-pointer-null

.PHONY: all check sparse unit unit-plain unit-san host-check vm-check demo deps clean install uninstall
all: $(PROGS)

# Objects are rebuilt when the flags change: a build made before `make deps`
# installed libsystemd-dev has no HAVE_LIBSYSTEMD, and make alone would keep
# those objects (and a daemon whose sd_notify calls do nothing) afterwards.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) $(LDLIBS)
ifneq ($(filter-out clean deps uninstall,$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell cat $(FLAGS_STAMP) 2>/dev/null),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD) && echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif
endif

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/san/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libnvmfb.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/san/libnvmfb.a: $(LIB_SAN_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/nvmf-pcie: $(BUILD)/obj/pcie/nvmf_pcie_main.o $(BUILD)/obj/perf/perf_stats.o $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/nvmf-bridged: $(BUILD)/obj/target/nvmf_bridged_main.o $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the administrator's tool (ctl/): the control socket client and the device
# setup helper; from the library it takes only config/ (setup --config), and
# it does not link libsystemd
CTL_SRCS := $(wildcard ctl/*.c)
$(BUILD)/nvmf-bridgectl: $(CTL_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -ljson-c -lcrypto -lz

# the daemon under AddressSanitizer and UndefinedBehaviorSanitizer, for the host tests
$(BUILD)/san/nvmf-bridged: $(BUILD)/san/obj/target/nvmf_bridged_main.o $(BUILD)/san/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# the project's own NVMe/TCP test initiator (tests/support/tcp_host.c)
$(BUILD)/nvmf-test-host: $(BUILD)/obj/tests/tcp_host_main.o $(TSUP_OBJS) $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the hostile network as a program (tests/host/hostile.sh)
$(BUILD)/nvmf-attack: $(BUILD)/obj/tests/attack_main.o $(BUILD)/obj/tests/support/pdu_build.o $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the load generator (perf/): the test initiator sets queues up, perf/perf_tcp.c runs the I/O
$(BUILD)/nvmf-bridge-perf: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard perf/*.c)) $(BUILD)/obj/tests/support/tcp_host.o $(BUILD)/obj/tests/support/dhchap_host.o $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/tgt_harness.o $(TSUP_OBJS) $(BUILD)/libnvmfb.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/san/tests/%: $(BUILD)/san/obj/tests/unit/%.o $(BUILD)/san/obj/tests/unit/tgt_harness.o $(TSUP_SAN_OBJS) $(BUILD)/san/libnvmfb.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcmocka $(LDLIBS)

deps:
	$(Q)tests/install-deps.sh

unit-plain: $(UNIT_BINS)
	$(Q)tests/run-unit.sh plain $(UNIT_BINS)

unit-san: $(UNIT_SAN_BINS)
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		tests/run-unit.sh asan+ubsan $(UNIT_SAN_BINS)

unit: unit-plain unit-san

sparse:
	$(Q)command -v sparse >/dev/null || { echo "sparse: not installed (make deps)" >&2; exit 1; }
	$(Q)out=$$(for f in $(SPARSE_SRCS); do sparse $(SPARSE_FLAGS) $(CPPFLAGS) $$f 2>&1; done); \
	if [ -n "$$out" ]; then echo "$$out"; echo "sparse: the lines above" >&2; exit 1; fi; \
	echo "sparse: $(words $(SPARSE_SRCS)) files, no warning"

# the daemon on 127.0.0.1 driven by the project's own initiator, plain and sanitized
host-check: all $(BUILD)/san/nvmf-bridged
	$(Q)tests/host/run.sh $(BUILD)/nvmf-bridged $(BUILD)/nvmf-test-host plain
	$(Q)tests/host/run.sh $(BUILD)/san/nvmf-bridged $(BUILD)/nvmf-test-host asan+ubsan
	$(Q)tests/host/ctl.sh $(BUILD)/nvmf-bridged $(BUILD)/nvmf-bridgectl $(BUILD)/nvmf-test-host plain
	$(Q)tests/host/ctl.sh $(BUILD)/san/nvmf-bridged $(BUILD)/nvmf-bridgectl $(BUILD)/nvmf-test-host asan+ubsan
	$(Q)tests/host/hostile.sh $(BUILD)/san/nvmf-bridged $(BUILD)/nvmf-attack $(BUILD)/nvmf-bridge-perf $(BUILD)/nvmf-bridgectl asan+ubsan $(BUILD)/nvmf-bridged
	$(Q)tests/host/metrics.sh $(BUILD)/san/nvmf-bridged $(BUILD)/nvmf-bridgectl $(BUILD)/nvmf-bridge-perf $(BUILD)/nvmf-test-host asan+ubsan
	$(Q)tests/host/bench_smoke.sh $(BUILD)
	$(Q)tests/host/qos.sh $(BUILD) asan+ubsan $(BUILD)/san/nvmf-bridged

# both guests: Debian 12's kernel 6.1 (the driver, TCP, RDMA, the service)
# and the current one, kernel 6.12 with nvme-cli 2.13 (in-band authentication)
vm-check: all
	$(Q)tests/vm/run.sh check
	$(Q)VM_GUEST=current tests/vm/run.sh check

# check installs its dependencies first, then builds and runs every layer
check:
	$(Q)tests/install-deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory sparse
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory host-check
	$(Q)$(MAKE) --no-print-directory fuzz-check
	$(Q)$(MAKE) --no-print-directory vm-check

# the side-by-side benchmark (host loopback, then the VM): bench/results/<date>.json and .md;
# PEERS=spdk also builds SPDK (bench/build-spdk.sh; SPDK_SRC, SPDK_DIR) and runs
# bench/vs_spdk.py (results/<date>-spdk.json and .md); a built SPDK_DIR is used by itself
.PHONY: bench
bench:
	$(Q)tests/install-deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) BENCH_PEERS="$(PEERS)" bench/bench.sh

demo:
	$(Q)tests/install-deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/vm/run.sh demo

# --- install ------------------------------------------------------------------
# PREFIX=/usr is what a Debian package uses; the default /usr/local keeps a
# hand install apart from dpkg's files. The unit goes where systemd looks for
# it: /lib/systemd/system for PREFIX=/usr (Debian 12's systemdsystemunitdir,
# `pkg-config --variable=systemdsystemunitdir systemd`; the same directory as
# /usr/lib/systemd/system on a merged-/usr system), and otherwise
# $(PREFIX)/lib/systemd/system, which systemd searches too
# (/usr/local/lib/systemd/system is in its unit path for exactly this).
# The configuration stays in /etc/nvmf-bridge whatever PREFIX is: the unit,
# the docs and the daemon's examples all name /etc/nvmf-bridge/config.json.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share
DOCDIR     ?= $(DATADIR)/doc/nvmf-bridge
MANDIR     ?= $(DATADIR)/man
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSCONFDIR ?= /etc
INSTALL    ?= install
INSTALL_PROGS := nvmf-bridged nvmf-bridgectl nvmf-pcie
INSTALL_DOCS  := README.md $(wildcard docs/*.md)
INSTALL_MAN8  := $(wildcard docs/*.8)

install: $(INSTALL_PROGS:%=$(BUILD)/%)
	$(Q)$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(MANDIR)/man8
	$(Q)$(INSTALL) -m 0755 $(INSTALL_PROGS:%=$(BUILD)/%) $(DESTDIR)$(SBINDIR)/
	@# the unit names the binaries where this install puts them
	$(Q)sed -e 's|/usr/sbin/|$(SBINDIR)/|g' -e 's|/etc/nvmf-bridge|$(SYSCONFDIR)/nvmf-bridge|g' \
		systemd/nvmf-bridge.service > $(DESTDIR)$(UNITDIR)/nvmf-bridge.service.tmp
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/nvmf-bridge.service.tmp
	$(Q)mv $(DESTDIR)$(UNITDIR)/nvmf-bridge.service.tmp $(DESTDIR)$(UNITDIR)/nvmf-bridge.service
	$(Q)$(INSTALL) -m 0644 $(INSTALL_MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(Q)$(INSTALL) -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	$(Q)$(INSTALL) -m 0644 config/example-*.json $(DESTDIR)$(DOCDIR)/examples/
	@# the configuration directory (empty: the configuration is the administrator's)
	$(Q)$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/nvmf-bridge
	@echo "installed into $(DESTDIR)$(PREFIX) (unit: $(DESTDIR)$(UNITDIR)/nvmf-bridge.service)"

uninstall:
	rm -f $(INSTALL_PROGS:%=$(DESTDIR)$(SBINDIR)/%) $(DESTDIR)$(UNITDIR)/nvmf-bridge.service
	rm -f $(patsubst %,$(DESTDIR)$(MANDIR)/man8/%,$(notdir $(INSTALL_MAN8)))
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(BUILD)

# libFuzzer harnesses: make fuzz (minutes each), make fuzz-check (corpora + a short run)
include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD) \( -name 'vm*' -prune \) -o -name '*.d' -type f -print 2>/dev/null)
