/* unwind.c -- owns the fast stack walk (unwind.h): the rule of a return
 * address, computed once from the unwind tables and cached in a lock-free
 * table, and the step that applies it.
 *
 * The tables are the .eh_frame sections every object of a Debian system
 * has.  Their format is DWARF's call frame information (DWARF 5, section
 * 6.4) with the changes of the Linux Standard Base (LSB Core 5.0,
 * "Exception Frames": the CIE id 0, the augmentation string and data, the
 * DW_EH_PE_* pointer encodings).  libgcc's _Unwind_Find_FDE finds the FDE
 * of an address (through .eh_frame_hdr's sorted table); this file reads
 * the FDE and its CIE and runs their call-frame programs (section 6.4.2)
 * up to the address, keeping only what an x86-64 walk needs: the CFA rule
 * and the rules of RBP (DWARF register 6), RSP (7) and the return address
 * (16).
 *
 * Calls: libgcc's _Unwind_Find_FDE, os.h (the table), counters.h. */
#include "debug/unwind.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "base/counters.h"
#include "base/internal.h"
#include "base/ownmem.h"
#include "os/os.h"

static _Atomic(uint64_t) count_rules, count_slow_rules, count_evictions;

void wdi_unwind_counts(wdi_unwind_counts_t *out) {
    out->rules = atomic_load_explicit(&count_rules, memory_order_relaxed);
    out->slow_rules = atomic_load_explicit(&count_slow_rules, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&count_evictions, memory_order_relaxed);
}

#if WD_FAST_UNWIND

/* libgcc's, exported by libgcc_s since GCC 3.0 and declared in its
 * unwind-dw2-fde.h, which is not installed: the FDE whose range holds pc,
 * with the function's start in bases->func. */
struct dwarf_eh_bases {
    void *tbase;
    void *dbase;
    void *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

/* --- a rule -------------------------------------------------------------------- */

/* A rule fits in 31 bits, so that it shares one 64-bit word with the
 * address it belongs to (the cache below):
 *
 *   bits 0-1    kind: RULE_NONE (no entry), RULE_STEP, RULE_LAST (the
 *               outermost frame: nothing above it), RULE_SLOW
 *   bit  2      the CFA is RBP + offset (else RSP + offset)
 *   bits 3-10   the caller's RBP is at CFA - 8 * this; 0: RBP unchanged
 *   bits 11-30  the CFA offset in bytes, signed (-512 KiB .. 512 KiB)
 */
enum { RULE_NONE = 0, RULE_STEP = 1, RULE_LAST = 2, RULE_SLOW = 3 };
#define RULE_BITS 31
#define RULE_KIND_MASK 3u
#define RULE_CFA_RBP (1u << 2)
#define RULE_BP_SHIFT 3
#define RULE_BP_SLOTS 255
#define RULE_OFF_SHIFT 11
#define RULE_OFF_BITS 20

static inline unsigned rule_kind(uint32_t rule) { return rule & RULE_KIND_MASK; }
static inline unsigned rule_bp_slot(uint32_t rule) { return (rule >> RULE_BP_SHIFT) & 0xff; }

/* Bits 11-30, sign-extended: shifted up to bit 31 first, then down. */
static inline intptr_t rule_cfa_off(uint32_t rule) {
    return (intptr_t)((int32_t)(rule << 1) >> (RULE_OFF_SHIFT + 1));
}

/* --- reading the tables ---------------------------------------------------------- */

/* A cursor over bytes of .eh_frame that never reads past end: a table
 * that says otherwise sets bad, and its rule becomes RULE_SLOW. */
typedef struct reader_s {
    const uint8_t *p, *end;
    int bad;
} reader_t;

static int has(reader_t *r, size_t n) {
    if ((size_t)(r->end - r->p) >= n)
        return 1;
    r->bad = 1;
    r->p = r->end;
    return 0;
}

static uint8_t read_u8(reader_t *r) { return has(r, 1) ? *r->p++ : 0; }

/* n bytes, little-endian, unaligned (n <= 8). */
static uint64_t read_fixed(reader_t *r, size_t n) {
    uint64_t v = 0;
    if (has(r, n)) {
        memcpy(&v, r->p, n);
        r->p += n;
    }
    return v;
}

/* LEB128 (DWARF 5, section 7.6): 7 bits a byte, low first, the high bit
 * set on every byte but the last. */
static uint64_t read_uleb(reader_t *r) {
    uint64_t v = 0;
    for (unsigned shift = 0; has(r, 1); shift += 7) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    return 0;
}

static int64_t read_sleb(reader_t *r) {
    uint64_t v = 0;
    for (unsigned shift = 0; has(r, 1);) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift; /* the sign bit of the last byte */
            return (int64_t)v;
        }
    }
    return 0;
}

static void skip(reader_t *r, uint64_t n) {
    if (has(r, n))
        r->p += n;
}

/* DW_EH_PE_* (LSB Core, "DWARF Exception Header Encoding"): the low four
 * bits give the format, bits 4-6 what the value is relative to, bit 7 an
 * indirection.  Only sizes matter here: the FDE's addresses come from
 * _Unwind_Find_FDE and the personality routine is not wanted. */
#define PE_OMIT 0xff
#define PE_ALIGNED 0x50

/* Steps over one value of encoding enc. */
static void skip_encoded(reader_t *r, uint8_t enc) {
    if (enc == PE_OMIT)
        return;
    if ((enc & 0x70) == PE_ALIGNED) { /* an absolute pointer at the next multiple of 8 */
        uintptr_t at = (uintptr_t)r->p;
        skip(r, wd_ptr_align_up(at, 8) - at + 8);
        return;
    }
    switch (enc & 0x0f) {
    case 0x00: /* absptr */
    case 0x04: /* udata8 */
    case 0x0c: /* sdata8 */
        skip(r, 8);
        return;
    case 0x02: /* udata2 */
    case 0x0a: /* sdata2 */
        skip(r, 2);
        return;
    case 0x03: /* udata4 */
    case 0x0b: /* sdata4 */
        skip(r, 4);
        return;
    case 0x01: /* uleb128 */
    case 0x09: /* sleb128 */
        read_uleb(r);
        return;
    default:
        r->bad = 1;
    }
}

/* DWARF register numbers of x86-64 (System V psABI, figure 3.36) that the
 * walk follows. */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* What the walk needs of a CIE. */
typedef struct cie_s {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc; /* 'R': how the FDE's addresses are encoded */
    uint8_t has_z;   /* 'z': augmentation data with its length (in the FDE too) */
    reader_t insns;  /* the initial instructions */
} cie_t;

/* A CIE or FDE record: its 4-byte length (0xffffffff would announce a
 * 64-bit length, which .eh_frame does not use: refused) and a reader over
 * the rest of it. */
static reader_t record_at(const uint8_t *at) {
    uint32_t len;
    memcpy(&len, at, 4);
    reader_t r = {at + 4, at + 4 + len, len == 0xffffffffu};
    return r;
}

/* The CIE's fields (LSB Core, "The Common Information Entry Format"):
 * length, CIE id (0), version (1 or 3), augmentation string, code and data
 * alignment factors, return address register, then the augmentation data
 * that the string announces and the initial instructions.  0, or -1 for a
 * CIE the walk will not use: a signal frame ('S': its return address is
 * not after a call), an augmentation it does not know, a return address
 * column other than x86-64's. */
static int cie_parse(const uint8_t *at, cie_t *cie) {
    reader_t r = record_at(at);
    memset(cie, 0, sizeof *cie); /* fde_enc 0: absolute addresses when there is no 'R' */
    if (read_fixed(&r, 4) != 0)
        return -1; /* not a CIE */
    uint8_t version = read_u8(&r);
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    skip(&r, aug_len + 1);
    if (version != 1 && version != 3 && version != 4)
        return -1;
    if (version == 4 && (read_u8(&r) != 8 || read_u8(&r) != 0))
        return -1; /* address size 8, segment selector size 0 */
    cie->code_align = read_uleb(&r);
    cie->data_align = read_sleb(&r);
    if ((version == 1 ? read_u8(&r) : read_uleb(&r)) != REG_RA)
        return -1;
    const uint8_t *insns = NULL;
    size_t i = 0;
    if (aug[0] == 'z') { /* the data's length, so the instructions are found whatever it holds */
        uint64_t len = read_uleb(&r);
        if (len > (uint64_t)(r.end - r.p))
            return -1;
        insns = r.p + len;
        cie->has_z = 1;
        i = 1;
    }
    for (; i < aug_len; i++) {
        switch (aug[i]) {
        case 'R':
            cie->fde_enc = read_u8(&r);
            break;
        case 'L': /* how the FDE's LSDA pointer is encoded: skipped with the FDE's data */
            read_u8(&r);
            break;
        case 'P': /* the personality routine: its encoding, then the pointer */
            skip_encoded(&r, read_u8(&r));
            break;
        default: /* 'S', a signal frame, or a letter unknown to us */
            return -1;
        }
    }
    if (r.bad || (aug_len > 0 && !cie->has_z))
        return -1;
    cie->insns.p = insns != NULL ? insns : r.p;
    cie->insns.end = r.end;
    return 0;
}

/* --- running the call-frame programs ---------------------------------------------- */

/* The columns a row keeps, of the registers above; the rules of the
 * others do not matter to the walk. */
enum { T_RBP, T_RSP, T_RA, TRACKED };

/* How a tracked register of the caller is found (section 6.4.1's register
 * rules, as libgcc applies them: "same value", "undefined" and no rule at
 * all leave a callee-saved register as it is). */
enum { HOW_SAME, HOW_AT, HOW_UNDEFINED, HOW_OTHER };

/* CFA rules: register + offset, or an expression the walk cannot follow. */
enum { CFA_UNSET, CFA_REG, CFA_EXPR };

/* One row of the table the programs describe, for the tracked columns. */
typedef struct row_s {
    uint8_t cfa_how;
    uint64_t cfa_reg;
    int64_t cfa_off;
    uint8_t how[TRACKED];
    int64_t off[TRACKED]; /* HOW_AT: the register is saved at CFA + off */
} row_t;

/* Nesting of DW_CFA_remember_state that a program may use; gcc's use one
 * or two levels. */
#define REMEMBER_MAX 8

/* Where one program runs: its CIE's factors and where the rows stop. */
typedef struct program_s {
    const cie_t *cie;
    uintptr_t loc; /* the address the current row starts at */
    uintptr_t pc;  /* rows that start at pc or later are not applied */
    row_t *row;
} program_t;

/* reg's column in a row, or -1. */
static int tracked(uint64_t reg) {
    if (reg == REG_RBP)
        return T_RBP;
    if (reg == REG_RSP)
        return T_RSP;
    if (reg == REG_RA)
        return T_RA;
    return -1;
}

static void set_rule(program_t *pr, uint64_t reg, uint8_t how, int64_t off) {
    int t = tracked(reg);
    if (t < 0)
        return;
    pr->row->how[t] = how;
    pr->row->off[t] = off;
}

/* DW_CFA_restore(_extended): DWARF restores the CIE's rule; libgcc (whose
 * result the walk must give) makes the register unsaved.  The two agree
 * for RBP and RSP, which no x86-64 CIE saves; a restored return address
 * column has no rule the walk can follow. */
static void restore_rule(program_t *pr, uint64_t reg) {
    int t = tracked(reg);
    if (t >= 0)
        pr->row->how[t] = t == T_RA ? HOW_OTHER : HOW_SAME;
}

/* Runs the instructions of r while their rows start before pc, as
 * libgcc's execute_cfa_program does: the row in force at pc - 1, the call
 * instruction (a return address is the instruction after the call, whose
 * row may already describe other code, as after a call that does not
 * return).  0, or -1 for an instruction it cannot decode. */
static int run_program(program_t *pr, reader_t r) {
    row_t remembered[REMEMBER_MAX];
    int depth = 0; /* libgcc does not carry remembered rows from the CIE to the FDE */
    const cie_t *cie = pr->cie;
    row_t *row = pr->row;
    while (r.p < r.end && pr->loc < pr->pc) {
        uint8_t op = read_u8(&r);
        uint64_t reg;
        /* Section 6.4.2: the top two bits, when set, hold the opcode and
         * the low six an operand. */
        switch (op >> 6) {
        case 1: /* DW_CFA_advance_loc */
            pr->loc += (op & 0x3f) * cie->code_align;
            continue;
        case 2: /* DW_CFA_offset: register saved at CFA + factored offset */
            set_rule(pr, op & 0x3f, HOW_AT, (int64_t)read_uleb(&r) * cie->data_align);
            continue;
        case 3: /* DW_CFA_restore */
            restore_rule(pr, op & 0x3f);
            continue;
        }
        switch (op) {
        case 0x00: /* DW_CFA_nop */
            break;
        case 0x02: /* DW_CFA_advance_loc1, 2, 4 */
            pr->loc += read_fixed(&r, 1) * cie->code_align;
            break;
        case 0x03:
            pr->loc += read_fixed(&r, 2) * cie->code_align;
            break;
        case 0x04:
            pr->loc += read_fixed(&r, 4) * cie->code_align;
            break;
        case 0x05: /* DW_CFA_offset_extended */
            reg = read_uleb(&r);
            set_rule(pr, reg, HOW_AT, (int64_t)read_uleb(&r) * cie->data_align);
            break;
        case 0x11: /* DW_CFA_offset_extended_sf */
            reg = read_uleb(&r);
            set_rule(pr, reg, HOW_AT, read_sleb(&r) * cie->data_align);
            break;
        case 0x2f: /* DW_CFA_GNU_negative_offset_extended (old, as libgcc reads it) */
            reg = read_uleb(&r);
            set_rule(pr, reg, HOW_AT, -((int64_t)read_uleb(&r) * cie->data_align));
            break;
        case 0x06: /* DW_CFA_restore_extended */
            restore_rule(pr, read_uleb(&r));
            break;
        case 0x07: /* DW_CFA_undefined */
            set_rule(pr, read_uleb(&r), HOW_UNDEFINED, 0);
            break;
        case 0x08: /* DW_CFA_same_value */
            set_rule(pr, read_uleb(&r), HOW_SAME, 0);
            break;
        case 0x09: /* DW_CFA_register: kept in another register, not followed */
            reg = read_uleb(&r);
            read_uleb(&r);
            set_rule(pr, reg, HOW_OTHER, 0);
            break;
        case 0x14: /* DW_CFA_val_offset: the value is CFA + offset */
        case 0x15: /* DW_CFA_val_offset_sf */
            reg = read_uleb(&r);
            if (op == 0x14)
                read_uleb(&r);
            else
                read_sleb(&r);
            set_rule(pr, reg, HOW_OTHER, 0);
            break;
        case 0x10: /* DW_CFA_expression */
        case 0x16: /* DW_CFA_val_expression */
            reg = read_uleb(&r);
            skip(&r, read_uleb(&r)); /* the expression's block */
            set_rule(pr, reg, HOW_OTHER, 0);
            break;
        case 0x0a: /* DW_CFA_remember_state: the whole row, CFA included */
            if (depth == REMEMBER_MAX)
                return -1;
            remembered[depth++] = *row;
            break;
        case 0x0b: /* DW_CFA_restore_state */
            if (depth == 0)
                return -1;
            *row = remembered[--depth];
            break;
        case 0x0c: /* DW_CFA_def_cfa: register and offset */
            row->cfa_reg = read_uleb(&r);
            row->cfa_off = (int64_t)read_uleb(&r);
            row->cfa_how = CFA_REG;
            break;
        case 0x12: /* DW_CFA_def_cfa_sf: register and factored offset */
            row->cfa_reg = read_uleb(&r);
            row->cfa_off = read_sleb(&r) * cie->data_align;
            row->cfa_how = CFA_REG;
            break;
        case 0x0d: /* DW_CFA_def_cfa_register */
            row->cfa_reg = read_uleb(&r);
            row->cfa_how = CFA_REG;
            break;
        case 0x0e: /* DW_CFA_def_cfa_offset (the rule's kind is kept, as libgcc does) */
            row->cfa_off = (int64_t)read_uleb(&r);
            break;
        case 0x13: /* DW_CFA_def_cfa_offset_sf */
            row->cfa_off = read_sleb(&r) * cie->data_align;
            break;
        case 0x0f: /* DW_CFA_def_cfa_expression */
            skip(&r, read_uleb(&r));
            row->cfa_how = CFA_EXPR;
            break;
        case 0x2e: /* DW_CFA_GNU_args_size: for landing pads only */
            read_uleb(&r);
            break;
        default: /* DW_CFA_set_loc (gcc never writes it), GNU_window_save, unknown */
            return -1;
        }
    }
    return r.bad ? -1 : 0;
}

/* The row in force at pc - 1 for the FDE at fde, whose function starts at
 * func: the CIE's initial instructions, then the FDE's (LSB Core, "The
 * Frame Description Entry Format": length, CIE pointer, PC begin, PC
 * range, augmentation data, instructions).  0, or -1 when the tables are
 * of a kind the walk does not use. */
static int row_at(const uint8_t *fde, uintptr_t func, uintptr_t pc, row_t *row) {
    reader_t r = record_at(fde);
    uint32_t cie_off = (uint32_t)read_fixed(&r, 4); /* back from this field */
    if (r.bad || cie_off == 0)
        return -1;
    cie_t cie;
    if (cie_parse(fde + 4 - cie_off, &cie) != 0)
        return -1;
    /* PC begin (func already says it) and PC range: the same format. */
    skip_encoded(&r, cie.fde_enc & 0x0f);
    skip_encoded(&r, cie.fde_enc & 0x0f);
    if (cie.has_z)
        skip(&r, read_uleb(&r));
    if (r.bad)
        return -1;
    memset(row, 0, sizeof *row); /* CFA_UNSET, every tracked register HOW_SAME */
    program_t pr = {&cie, func, pc, row};
    if (run_program(&pr, cie.insns) != 0 || run_program(&pr, r) != 0)
        return -1;
    return 0;
}

/* The rule for a row, or RULE_SLOW when it says what a rule cannot. */
static uint32_t rule_of_row(const row_t *row) {
    if (row->how[T_RA] == HOW_UNDEFINED) /* DWARF's mark of the outermost frame */
        return RULE_LAST;
    if (row->cfa_how != CFA_REG || (row->cfa_reg != REG_RSP && row->cfa_reg != REG_RBP))
        return RULE_SLOW;
    if (row->how[T_RA] != HOW_AT || row->off[T_RA] != -8 || row->how[T_RSP] != HOW_SAME)
        return RULE_SLOW; /* the caller's RSP is the CFA, its return address at CFA - 8 */
    int64_t off = row->cfa_off, lim = (int64_t)1 << (RULE_OFF_BITS - 1);
    if (off < -lim || off >= lim)
        return RULE_SLOW;
    /* The caller's frame lies above this one: with RSP, the offset alone
     * says so (at least the return address; the saved RBP below it). */
    if (row->cfa_reg == REG_RSP &&
        (off < 8 || (row->how[T_RBP] == HOW_AT && row->off[T_RBP] < -off)))
        return RULE_SLOW;
    uint32_t rule = RULE_STEP | (uint32_t)((uint64_t)off << RULE_OFF_SHIFT);
    rule &= ((uint32_t)1 << RULE_BITS) - 1;
    if (row->cfa_reg == REG_RBP)
        rule |= RULE_CFA_RBP;
    switch (row->how[T_RBP]) {
    case HOW_SAME:
    case HOW_UNDEFINED: /* libgcc leaves such a register as it is */
        return rule;
    case HOW_AT: {
        int64_t at = row->off[T_RBP];
        if (at >= 0 || at % 8 != 0 || -at / 8 > RULE_BP_SLOTS)
            return RULE_SLOW;
        return rule | (uint32_t)(-at / 8) << RULE_BP_SHIFT;
    }
    default:
        return RULE_SLOW;
    }
}

/* The rule for return address pc (or, for a walk's first frame, a place
 * inside the function), from its FDE. */
static WD_NOINLINE uint32_t rule_compute(uintptr_t pc) {
    struct dwarf_eh_bases bases;
    const uint8_t *fde = _Unwind_Find_FDE((void *)(pc - 1), &bases);
    row_t row;
    uint32_t rule = RULE_SLOW;
    if (fde != NULL && row_at(fde, (uintptr_t)bases.func, pc, &row) == 0)
        rule = rule_of_row(&row);
    atomic_fetch_add_explicit(&count_rules, 1, memory_order_relaxed);
    if (rule == RULE_SLOW)
        atomic_fetch_add_explicit(&count_slow_rules, 1, memory_order_relaxed);
    return rule;
}

/* --- the cache ------------------------------------------------------------------- */

/* 2^14 buckets of 4 words: 64 Ki rules in 512 KiB, mapped at the first
 * step.  A word is a rule (low 31 bits) and the tag of its address (high
 * 33 bits).  User addresses of x86-64 Linux lie below 2^47.  The bucket
 * is the address's bits 4 to 17 (16 bytes of code a bucket, 256 KiB of
 * code over the table, then again), the tag its other 33 bits: bucket and
 * tag together give the address, so a word that matches belongs to this
 * address and no other, and since it is one atomic word it is never half
 * of one rule and half of another.  Addresses close in the code share a
 * page of the table: a stack's frames in a few functions of one module
 * touch a few of its pages, not one each (a small program's resident
 * memory), and return addresses of one 16-byte stretch are few, which
 * the 4 ways hold.  Words are read and written relaxed: a word carries
 * everything, and publishes nothing else. */
#define PC_BITS 47
#define BUCKET_BITS 14
#define WAYS 4
#define TAG_BITS (PC_BITS - BUCKET_BITS)
#define TABLE_WORDS (((size_t)1 << BUCKET_BITS) * WAYS)
#define LOW_BITS 4 /* the address's bits below the bucket's, kept in the tag */

_Static_assert(TAG_BITS + RULE_BITS == 64, "a word is a tag and a rule");

static _Atomic(_Atomic(uint64_t) *) table;

/* The table, mapped now by the first thread to need it (others that come
 * at once unmap theirs); NULL when the OS refuses. */
static WD_NOINLINE _Atomic(uint64_t) *table_map(void) {
    void *mine;
    if (wdi_os_map(TABLE_WORDS * sizeof(uint64_t), &mine) != 0)
        return NULL;
    _Atomic(uint64_t) *have = NULL;
    if (atomic_compare_exchange_strong_explicit(&table, &have, mine, memory_order_acq_rel,
                                                memory_order_acquire)) {
        wdi_own_add(mine, TABLE_WORDS * sizeof(uint64_t)); /* rules: nothing for the leak scan */
        wdi_stat_add(WD_STAT_MAPPED, TABLE_WORDS * sizeof(uint64_t));
        wdi_stat_add(WD_STAT_COMMITTED, TABLE_WORDS * sizeof(uint64_t));
        return mine;
    }
    wdi_os_unmap(mine, TABLE_WORDS * sizeof(uint64_t));
    return have;
}

/* Keeps rule in bucket b under tag: in a free word when there is one,
 * else over the word `victim` chooses.  Threads that fill the bucket at
 * the same moment each take a word whole; one that finds its address
 * already kept by another stops there. */
static void rule_keep(_Atomic(uint64_t) *b, uint64_t tag, uint32_t rule, unsigned victim) {
    uint64_t word = tag << RULE_BITS | rule;
    for (unsigned i = 0; i < WAYS; i++) {
        uint64_t seen = 0;
        if (atomic_compare_exchange_strong_explicit(&b[i], &seen, word, memory_order_relaxed,
                                                    memory_order_relaxed) ||
            seen >> RULE_BITS == tag)
            return;
    }
    atomic_store_explicit(&b[victim % WAYS], word, memory_order_relaxed);
    atomic_fetch_add_explicit(&count_evictions, 1, memory_order_relaxed);
}

/* Where pc's rule lies (pc below 2^PC_BITS), and its tag: the other bits. */
static inline size_t bucket_of(uintptr_t pc) {
    return (size_t)(pc >> LOW_BITS) & (((size_t)1 << BUCKET_BITS) - 1);
}

static inline uint64_t tag_of(uintptr_t pc) {
    return (uint64_t)(pc >> (LOW_BITS + BUCKET_BITS)) << LOW_BITS |
           (pc & (((uintptr_t)1 << LOW_BITS) - 1));
}

/* pc's rule in the table, or RULE_NONE. */
static inline uint32_t rule_cached(uintptr_t pc) {
    _Atomic(uint64_t) *t = atomic_load_explicit(&table, memory_order_acquire);
    if (wd_unlikely(t == NULL || pc >> PC_BITS))
        return RULE_NONE;
    _Atomic(uint64_t) *b = t + bucket_of(pc) * WAYS;
    uint64_t tag = tag_of(pc);
    for (unsigned i = 0; i < WAYS; i++) {
        uint64_t w = atomic_load_explicit(&b[i], memory_order_relaxed);
        if ((w >> RULE_BITS) == tag && rule_kind((uint32_t)w) != RULE_NONE)
            return (uint32_t)w & (((uint32_t)1 << RULE_BITS) - 1);
    }
    return RULE_NONE;
}

/* pc's rule, computed and kept in the table (mapped now if it is not
 * yet).  `victim` varies from call to call (the walk passes stack bits),
 * so that two addresses that evict each other from a full bucket do not
 * do it for ever. */
static WD_NOINLINE uint32_t rule_miss(uintptr_t pc, unsigned victim) {
    uint32_t rule = rule_compute(pc);
    _Atomic(uint64_t) *t = atomic_load_explicit(&table, memory_order_acquire);
    if (t == NULL)
        t = table_map();
    if (t == NULL || pc >> PC_BITS)
        return rule; /* no table, or not a user address: not kept */
    rule_keep(t + bucket_of(pc) * WAYS, tag_of(pc), rule, victim);
    return rule;
}

/* --- the step ---------------------------------------------------------------------- */

/* The caller's frame must lie above this one, by at most this much, and
 * within this much of where the walk started: a CFA outside is garbage
 * (a corrupted stack, or rules that are not this code's), and the walk
 * stops before reading there.  The thread's own stack bounds would be
 * better, but glibc's pthread_getattr_np allocates.  A CFA from RSP
 * needs no check here: its offset was checked with its rule (8 bytes ..
 * 512 KiB above RSP, the saved RBP in between). */
#define MAX_STEP ((uintptr_t)16 << 20)
#define MAX_SPAN ((uintptr_t)1 << 30)

static WD_ALWAYS_INLINE void note_read(wdi_unwind_note_t *note, uintptr_t addr, uintptr_t value,
                                       int used) {
    if (note->n == WDI_NOTE_MAX) {
        note->full = 1;
        return;
    }
    note->addr[note->n] = addr;
    note->value[note->n] = value;
    note->used[note->n] = (uint8_t)used;
    note->n++;
}

/* Applies a RULE_STEP rule to *u.  Its reads are of the return address
 * and saved RBP slots of the thread's own frames: no sanitizer attribute
 * is needed, as AddressSanitizer never poisons those slots and
 * ThreadSanitizer sees no other thread write them.
 * note: NULL, or where the reads are noted (wdi_unwind_step_noted); the
 * plain step is compiled without any of it. */
static WD_ALWAYS_INLINE int step_by(wdi_unwind_t *u, uint32_t rule, wdi_unwind_note_t *note) {
    uintptr_t cfa, slot = rule_bp_slot(rule);
    if (rule & RULE_CFA_RBP) {
        cfa = u->bp + (uintptr_t)rule_cfa_off(rule);
        if (note != NULL) { /* the current RBP counts from now on */
            if (note->bp_from < 0)
                note->bp_used = 1;
            else if (note->bp_from < WDI_NOTE_MAX)
                note->used[note->bp_from] = 1;
        }
        /* Above this frame by 8 * slot (the saved RBP is in this frame,
         * the return address too) .. 16 MiB, below the span's end. */
        uintptr_t low = slot != 0 ? 8 * slot : 8;
        if (cfa - u->sp - low > MAX_STEP - low || cfa - u->base > MAX_SPAN)
            return WDI_UNWIND_END;
    } else {
        cfa = u->sp + (uintptr_t)rule_cfa_off(rule);
    }
    u->pc = *(const uintptr_t *)(cfa - 8);
    if (note != NULL)
        note_read(note, cfa - 8, u->pc, 1);
    if (slot != 0) {
        u->bp = *(const uintptr_t *)(cfa - 8 * slot);
        if (note != NULL) {
            note->bp_from = note->n;
            note_read(note, cfa - 8 * slot, u->bp, 0);
        }
    }
    u->sp = cfa;
    return u->pc != 0 ? WDI_UNWIND_NEXT : WDI_UNWIND_END;
}

/* A step by rule, the table's word for u->pc (computed now when the
 * table had none); note: see wdi_unwind_step_noted. */
static WD_ALWAYS_INLINE int step_rule(wdi_unwind_t *u, uint32_t rule, wdi_unwind_note_t *note) {
    if (rule_kind(rule) == RULE_NONE)
        rule = rule_miss(u->pc, (unsigned)(u->sp >> 4));
    switch (rule_kind(rule)) {
    case RULE_STEP:
        return step_by(u, rule, note);
    case RULE_LAST:
        return WDI_UNWIND_END;
    default:
        return WDI_UNWIND_SLOW;
    }
}

/* A step whose rule is not in the table, or is not RULE_STEP. */
static WD_NOINLINE int step_slow(wdi_unwind_t *u, uint32_t rule) {
    return step_rule(u, rule, NULL);
}

/* The common case calls nothing, so it needs no registers saved. */
int wdi_unwind_step(wdi_unwind_t *u) {
    uint32_t rule = rule_cached(u->pc);
    if (wd_unlikely(rule_kind(rule) != RULE_STEP))
        return step_slow(u, rule);
    return step_by(u, rule, NULL);
}

int wdi_unwind_step_noted(wdi_unwind_t *u, wdi_unwind_note_t *note) {
    return step_rule(u, rule_cached(u->pc), note);
}

#endif /* WD_FAST_UNWIND */
