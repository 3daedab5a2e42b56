/* SPDX-License-Identifier: MIT */
/*
 * Identify data structures (NVMe Base Specification 2.0, 5.17.2; NVM Command
 * Set Specification 1.0, 4.1.5).  Offsets follow the specification and are
 * checked below.
 */
#ifndef NVME_IDENTIFY_H
#define NVME_IDENTIFY_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

struct nvme_psd {
	le16 mp;
	uint8_t rsvd2;
	uint8_t flags;
	le32 enlat;
	le32 exlat;
	uint8_t rrt;
	uint8_t rrl;
	uint8_t rwt;
	uint8_t rwl;
	le16 idlp;
	uint8_t ips;
	uint8_t rsvd19;
	le16 actp;
	uint8_t apws;
	uint8_t rsvd23[9];
} __attribute__((packed));

static_assert(sizeof(struct nvme_psd) == 32, "psd size");

struct nvme_id_ctrl {
	le16 vid;
	le16 ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts;
	le16 cntlid;
	le32 ver;
	le32 rtd3r;
	le32 rtd3e;
	le32 oaes;
	le32 ctratt;
	le16 rrls;
	uint8_t rsvd102[9];
	uint8_t cntrltype;
	uint8_t fguid[16];
	le16 crdt1;
	le16 crdt2;
	le16 crdt3;
	uint8_t rsvd134[119];
	uint8_t nvmsr;
	uint8_t vwci;
	uint8_t mec;
	le16 oacs;
	uint8_t acl;
	uint8_t aerl;
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe;
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	le16 wctemp;
	le16 cctemp;
	le16 mtfa;
	le32 hmpre;
	le32 hmmin;
	uint8_t tnvmcap[16];
	uint8_t unvmcap[16];
	le32 rpmbs;
	le16 edstt;
	uint8_t dsto;
	uint8_t fwug;
	le16 kas;
	le16 hctma;
	le16 mntmt;
	le16 mxtmt;
	le32 sanicap;
	le32 hmminds;
	le16 hmmaxd;
	le16 nsetidmax;
	le16 endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	le32 anagrpmax;
	le32 nanagrpid;
	le32 pels;
	le16 domainid;
	uint8_t rsvd358[10];
	uint8_t megcap[16];
	uint8_t rsvd384[128];
	uint8_t sqes;
	uint8_t cqes;
	le16 maxcmd;
	le32 nn;
	le16 oncs;
	le16 fuses;
	uint8_t fna;
	uint8_t vwc;
	le16 awun;
	le16 awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	le16 acwu;
	le16 ocfs;
	le32 sgls;
	le32 mnan;
	uint8_t maxdna[16];
	le32 maxcna;
	uint8_t rsvd564[204];
	char subnqn[256];
	uint8_t rsvd1024[768];
	/* fabrics */
	le32 ioccsz;
	le32 iorcsz;
	le16 icdoff;
	uint8_t fcatt;
	uint8_t msdbd;
	le16 ofcs;
	uint8_t dctype;
	uint8_t rsvd1807[241];
	struct nvme_psd psd[32];
	uint8_t vs[1024];
} __attribute__((packed));

static_assert(sizeof(struct nvme_id_ctrl) == 4096, "id_ctrl size");
static_assert(offsetof(struct nvme_id_ctrl, sn) == 4, "id_ctrl sn");
static_assert(offsetof(struct nvme_id_ctrl, mn) == 24, "id_ctrl mn");
static_assert(offsetof(struct nvme_id_ctrl, fr) == 64, "id_ctrl fr");
static_assert(offsetof(struct nvme_id_ctrl, cmic) == 76, "id_ctrl cmic");
static_assert(offsetof(struct nvme_id_ctrl, mdts) == 77, "id_ctrl mdts");
static_assert(offsetof(struct nvme_id_ctrl, cntlid) == 78, "id_ctrl cntlid");
static_assert(offsetof(struct nvme_id_ctrl, ver) == 80, "id_ctrl ver");
static_assert(offsetof(struct nvme_id_ctrl, oaes) == 92, "id_ctrl oaes");
static_assert(offsetof(struct nvme_id_ctrl, ctratt) == 96, "id_ctrl ctratt");
static_assert(offsetof(struct nvme_id_ctrl, cntrltype) == 111, "id_ctrl cntrltype");
static_assert(offsetof(struct nvme_id_ctrl, crdt1) == 128, "id_ctrl crdt1");
static_assert(offsetof(struct nvme_id_ctrl, oacs) == 256, "id_ctrl oacs");
static_assert(offsetof(struct nvme_id_ctrl, lpa) == 261, "id_ctrl lpa");
static_assert(offsetof(struct nvme_id_ctrl, tnvmcap) == 280, "id_ctrl tnvmcap");
static_assert(offsetof(struct nvme_id_ctrl, kas) == 320, "id_ctrl kas");
static_assert(offsetof(struct nvme_id_ctrl, anatt) == 342, "id_ctrl anatt");
static_assert(offsetof(struct nvme_id_ctrl, anacap) == 343, "id_ctrl anacap");
static_assert(offsetof(struct nvme_id_ctrl, anagrpmax) == 344, "id_ctrl anagrpmax");
static_assert(offsetof(struct nvme_id_ctrl, nanagrpid) == 348, "id_ctrl nanagrpid");
static_assert(offsetof(struct nvme_id_ctrl, mnan) == 540, "id_ctrl mnan");
static_assert(offsetof(struct nvme_id_ctrl, sqes) == 512, "id_ctrl sqes");
static_assert(offsetof(struct nvme_id_ctrl, maxcmd) == 514, "id_ctrl maxcmd");
static_assert(offsetof(struct nvme_id_ctrl, nn) == 516, "id_ctrl nn");
static_assert(offsetof(struct nvme_id_ctrl, oncs) == 520, "id_ctrl oncs");
static_assert(offsetof(struct nvme_id_ctrl, vwc) == 525, "id_ctrl vwc");
static_assert(offsetof(struct nvme_id_ctrl, sgls) == 536, "id_ctrl sgls");
static_assert(offsetof(struct nvme_id_ctrl, subnqn) == 768, "id_ctrl subnqn");
static_assert(offsetof(struct nvme_id_ctrl, ioccsz) == 1792, "id_ctrl ioccsz");
static_assert(offsetof(struct nvme_id_ctrl, iorcsz) == 1796, "id_ctrl iorcsz");
static_assert(offsetof(struct nvme_id_ctrl, icdoff) == 1800, "id_ctrl icdoff");
static_assert(offsetof(struct nvme_id_ctrl, msdbd) == 1803, "id_ctrl msdbd");
static_assert(offsetof(struct nvme_id_ctrl, psd) == 2048, "id_ctrl psd");
static_assert(offsetof(struct nvme_id_ctrl, vs) == 3072, "id_ctrl vs");

/* CTRATT bits */
#define NVME_CTRATT_HID_128     (1u << 0)   /* 128-bit Host Identifier */
#define NVME_CTRATT_TBKAS       (1u << 6)   /* Traffic Based Keep Alive */

/* ONCS bits */
#define NVME_ONCS_COMPARE       (1u << 0)
#define NVME_ONCS_WRITE_UNCOR   (1u << 1)
#define NVME_ONCS_DSM           (1u << 2)
#define NVME_ONCS_WRITE_ZEROES  (1u << 3)

struct nvme_lbaf {
	le16 ms;     /* metadata bytes per block */
	uint8_t lbads;   /* block size = 2^lbads */
	uint8_t rp;      /* relative performance, bits 1:0 */
} __attribute__((packed));

static_assert(sizeof(struct nvme_lbaf) == 4, "lbaf size");

struct nvme_id_ns {
	le64 nsze;
	le64 ncap;
	le64 nuse;
	uint8_t nsfeat;
	uint8_t nlbaf;     /* 0's based */
	uint8_t flbas;     /* bits 3:0 (+ 6:5 for > 16 formats) format index, bit 4 extended */
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	le16 nawun;
	le16 nawupf;
	le16 nacwu;
	le16 nabsn;
	le16 nabo;
	le16 nabspf;
	le16 noiob;
	uint8_t nvmcap[16];
	le16 npwg;
	le16 npwa;
	le16 npdg;
	le16 npda;
	le16 nows;
	le16 mssrl;
	le32 mcl;
	uint8_t msrc;
	uint8_t rsvd81[11];
	le32 anagrpid;
	uint8_t rsvd96[3];
	uint8_t nsattr;
	le16 nvmsetid;
	le16 endgid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct nvme_lbaf lbaf[64];
	uint8_t vs[3712];
} __attribute__((packed));

static_assert(sizeof(struct nvme_id_ns) == 4096, "id_ns size");
static_assert(offsetof(struct nvme_id_ns, nsfeat) == 24, "id_ns nsfeat");
static_assert(offsetof(struct nvme_id_ns, flbas) == 26, "id_ns flbas");
static_assert(offsetof(struct nvme_id_ns, nmic) == 30, "id_ns nmic");
static_assert(offsetof(struct nvme_id_ns, dlfeat) == 33, "id_ns dlfeat");
static_assert(offsetof(struct nvme_id_ns, noiob) == 46, "id_ns noiob");
static_assert(offsetof(struct nvme_id_ns, nvmcap) == 48, "id_ns nvmcap");
static_assert(offsetof(struct nvme_id_ns, npwg) == 64, "id_ns npwg");
static_assert(offsetof(struct nvme_id_ns, mssrl) == 74, "id_ns mssrl");
static_assert(offsetof(struct nvme_id_ns, mcl) == 76, "id_ns mcl");
static_assert(offsetof(struct nvme_id_ns, msrc) == 80, "id_ns msrc");
static_assert(offsetof(struct nvme_id_ns, anagrpid) == 92, "id_ns anagrpid");
static_assert(offsetof(struct nvme_id_ns, nsattr) == 99, "id_ns nsattr");
static_assert(offsetof(struct nvme_id_ns, nvmsetid) == 100, "id_ns nvmsetid");
static_assert(offsetof(struct nvme_id_ns, nguid) == 104, "id_ns nguid");
static_assert(offsetof(struct nvme_id_ns, eui64) == 120, "id_ns eui64");
static_assert(offsetof(struct nvme_id_ns, lbaf) == 128, "id_ns lbaf");
static_assert(offsetof(struct nvme_id_ns, vs) == 384, "id_ns vs");

static inline unsigned nvme_id_ns_flbas_index(const struct nvme_id_ns *ns)
{
	return (ns->flbas & 0xfu) | ((unsigned)((ns->flbas >> 5) & 0x3u) << 4);
}

/* OACS: Doorbell Buffer Config (shadow doorbells) supported */
#define NVME_CTRL_OACS_DBBUF (1u << 8)

#endif
