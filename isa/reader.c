/* The .ivm reader: checks the container and fills a read-only view over the bytes. Every
 * field that locates data is checked here; the meaning of the records (indices, shapes,
 * arena ranges) is checked by the verifier (verify.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "isa/module_impl.h"

_Static_assert(sizeof(isa_file_header) == 64, "header layout");
_Static_assert(offsetof(isa_file_header, section_table) == 24, "header layout");
_Static_assert(offsetof(isa_file_header, checksum) == 40, "header layout");
_Static_assert(sizeof(isa_section_entry) == 24, "section entry layout");
_Static_assert(sizeof(isa_import_rec) == 16, "import layout");
_Static_assert(sizeof(isa_tensor_rec) == 32, "tensor layout");
_Static_assert(offsetof(isa_tensor_rec, offset) == 16, "tensor layout");
_Static_assert(sizeof(isa_instr_rec) == 24, "instruction layout");
_Static_assert(sizeof(isa_attr_rec) == 16, "attribute layout");
_Static_assert(sizeof(isa_io_header) == 8, "io layout");
_Static_assert(sizeof(isa_plan_rec) == 24, "plan layout");

/* Bounds the pairwise overlap check; version 1 defines 12 kinds. */
#define ISA_MAX_SECTIONS 64

#define FMT_ERR(...) ivm_error(IVM_ERR_FORMAT, __VA_ARGS__)

/* Minimum alignment of each section (that of its records); CONSTS need 64 so weights
 * can be used in place. */
static uint32_t section_min_align(uint32_t kind) {
  switch (kind) {
    case ISA_SEC_STRTAB: return 1;
    case ISA_SEC_TENSORS:
    case ISA_SEC_DIMS:
    case ISA_SEC_ATTRS:
    case ISA_SEC_PLAN: return 8;
    case ISA_SEC_CONSTS: return ISA_CONST_ALIGN;
    default: return 4;
  }
}

/* Record size for sections that are arrays (0: not an array). */
static uint32_t section_rec_size(uint32_t kind) {
  switch (kind) {
    case ISA_SEC_SYMBOLS:
    case ISA_SEC_OPERANDS:
    case ISA_SEC_DEBUG: return 4;
    case ISA_SEC_IMPORTS: return sizeof(isa_import_rec);
    case ISA_SEC_TENSORS: return sizeof(isa_tensor_rec);
    case ISA_SEC_DIMS: return 8;
    case ISA_SEC_CODE: return sizeof(isa_instr_rec);
    case ISA_SEC_ATTRS: return 8;
    default: return 0;
  }
}

static int section_required(uint32_t kind) {
  return kind == ISA_SEC_STRTAB || kind == ISA_SEC_IMPORTS || kind == ISA_SEC_TENSORS ||
         kind == ISA_SEC_CODE || kind == ISA_SEC_OPERANDS || kind == ISA_SEC_IO ||
         kind == ISA_SEC_PLAN;
}

static uint32_t count_of(const isa_section_entry *e, uint32_t rec) {
  return e ? (uint32_t)(e->size / rec) : 0;
}

/* Where the CONSTS section lies, for the metadata checksum (minor >= 2), found before the
 * section table is checked: the first CONSTS entry of a table that lies inside the file
 * (the bounds checked below), if its range lies inside the file clear of the header and
 * the table. Anything else leaves nothing out: the checksum then fails on a damaged
 * table, and a table crafted to match it fails the structural checks below. Every table
 * those checks accept gets its CONSTS range here. */
static void consts_range(const uint8_t *b, size_t size, uint64_t *off, uint64_t *len) {
  const isa_file_header *h = (const isa_file_header *)b;
  uint64_t tab = h->section_table, nsec = h->section_count;
  *off = *len = 0;
  if (tab % 8 || tab < sizeof(isa_file_header) || tab > size ||
      nsec > (size - tab) / sizeof(isa_section_entry) || nsec > ISA_MAX_SECTIONS)
    return;
  uint64_t tab_end = tab + nsec * sizeof(isa_section_entry);
  const isa_section_entry *secs = (const isa_section_entry *)(b + tab);
  for (uint32_t i = 0; i < nsec; i++) {
    const isa_section_entry *e = &secs[i];
    if (e->kind != ISA_SEC_CONSTS) continue;
    if (e->offset >= sizeof(isa_file_header) && e->offset <= size &&
        e->size <= size - e->offset && (e->offset >= tab_end || e->offset + e->size <= tab)) {
      *off = e->offset;
      *len = e->size;
    }
    return;
  }
}

ivm_status isa_module_check_consts(const isa_module *m, const char *what) {
  if (!what) what = "<memory>";
  if (!m || !m->header || m->header->minor < ISA_FORMAT_MINOR_SPLIT_CRC) return NULL;
  uint32_t crc = isa_crc32(0, m->consts, m->consts_size);
  if (crc != m->header->consts_checksum)
    return FMT_ERR(
        "%s: section CONSTS: checksum mismatch (stored 0x%08x, computed 0x%08x): the "
        "constant data is damaged",
        what, m->header->consts_checksum, crc);
  return NULL;
}

ivm_status isa_module_open(const void *bytes, size_t size, const char *what, isa_module *out) {
  memset(out, 0, sizeof *out);
  if (!what) what = "<memory>";
  const uint8_t *b = bytes;
  if (!b && size) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: no data", what);
  if ((uintptr_t)b % 8)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: module bytes must be 8-byte aligned", what);
  if (size < 8 || memcmp(b, ISA_MAGIC, 8) != 0)
    return FMT_ERR("%s: not an IVM module (bad magic)", what);
  if (size < sizeof(isa_file_header))
    return FMT_ERR("%s: header: file is truncated (%zu bytes)", what, size);
  const isa_file_header *h = (const isa_file_header *)b;
  if (h->major != ISA_FORMAT_MAJOR)
    return FMT_ERR(
        "%s: header: bytecode format version %u.%u is not supported (this IVM reads "
        "version %d.x)",
        what, h->major, h->minor, ISA_FORMAT_MAJOR);
  if (h->header_size != sizeof(isa_file_header))
    return FMT_ERR("%s: header: header_size is %u, expected %zu", what, h->header_size,
                   sizeof(isa_file_header));
  if (h->file_size != size)
    return FMT_ERR(
        "%s: header: file_size is %llu but %zu bytes were given (truncated or padded "
        "file)",
        what, (unsigned long long)h->file_size, size);
  uint64_t skip_off = 0, skip_len = 0;
  if (h->minor >= ISA_FORMAT_MINOR_SPLIT_CRC) consts_range(b, size, &skip_off, &skip_len);
  uint32_t crc = isa_header_checksum(b, size, h->minor, skip_off, skip_len);
  if (crc != h->checksum)
    return FMT_ERR(
        "%s: header: checksum mismatch (stored 0x%08x, computed 0x%08x): the file is "
        "damaged",
        what, h->checksum, crc);
  if (h->flags != 0) return FMT_ERR("%s: header: unknown flags 0x%x", what, h->flags);
  if (h->minor < ISA_FORMAT_MINOR_SPLIT_CRC && h->consts_checksum)
    return FMT_ERR("%s: header: consts_checksum is 0x%08x in a version %u.%u file (must be 0)",
                   what, h->consts_checksum, h->major, h->minor);
  for (int i = 0; i < 4; i++)
    if (h->reserved[i]) return FMT_ERR("%s: header: reserved field %d is not zero", what, i);

  /* Section table: inside the file, after the header, 8-aligned. */
  uint64_t tab = h->section_table, nsec = h->section_count;
  if (tab % 8 || tab < sizeof(isa_file_header) || tab > size ||
      nsec > (size - tab) / sizeof(isa_section_entry))
    return FMT_ERR("%s: section table (offset %llu, %llu entries) is out of bounds", what,
                   (unsigned long long)tab, (unsigned long long)nsec);
  if (nsec > ISA_MAX_SECTIONS)
    return FMT_ERR("%s: section table: %llu sections (at most %d allowed)", what,
                   (unsigned long long)nsec, ISA_MAX_SECTIONS);
  const isa_section_entry *secs = (const isa_section_entry *)(b + tab);
  const isa_section_entry *by_kind[ISA_SEC_MAX + 1] = {0};
  uint64_t tab_end = tab + nsec * sizeof(isa_section_entry);
  for (uint32_t i = 0; i < nsec; i++) {
    const isa_section_entry *e = &secs[i];
    const char *nm = isa_section_name(e->kind);
    if (e->kind == 0) return FMT_ERR("%s: section table entry %u: kind 0 is invalid", what, i);
    if (e->align == 0 || (e->align & (e->align - 1)))
      return FMT_ERR("%s: section %s: alignment %u is not a power of two", what, nm, e->align);
    if (e->offset > size || e->size > size - e->offset)
      return FMT_ERR("%s: section %s: range [%llu, +%llu) is outside the file (%zu bytes)", what,
                     nm, (unsigned long long)e->offset, (unsigned long long)e->size, size);
    if (e->offset % e->align)
      return FMT_ERR("%s: section %s: offset %llu is not a multiple of its alignment %u", what, nm,
                     (unsigned long long)e->offset, e->align);
    if (e->size &&
        (e->offset < sizeof(isa_file_header) || (e->offset < tab_end && tab < e->offset + e->size)))
      return FMT_ERR("%s: section %s overlaps the header or the section table", what, nm);
    for (uint32_t j = 0; j < i; j++) {
      const isa_section_entry *o = &secs[j];
      if (e->size && o->size && e->offset < o->offset + o->size && o->offset < e->offset + e->size)
        return FMT_ERR("%s: section %s overlaps section %s", what, nm, isa_section_name(o->kind));
    }
    if (e->kind > ISA_SEC_MAX) continue; /* a newer minor's section: bounds-checked, ignored */
    if (by_kind[e->kind]) return FMT_ERR("%s: section %s appears twice", what, nm);
    by_kind[e->kind] = e;
    if (e->align < section_min_align(e->kind) || e->offset % section_min_align(e->kind))
      return FMT_ERR("%s: section %s: alignment %u is less than the required %u", what, nm,
                     e->align, section_min_align(e->kind));
    uint32_t rec = section_rec_size(e->kind);
    if (rec && e->size % rec)
      return FMT_ERR("%s: section %s: size %llu is not a multiple of %u", what, nm,
                     (unsigned long long)e->size, rec);
    if (rec && e->size / rec > UINT32_MAX)
      return FMT_ERR("%s: section %s: too many records", what, nm);
  }
  for (uint32_t k = 1; k <= ISA_SEC_MAX; k++)
    if (section_required(k) && !by_kind[k])
      return FMT_ERR("%s: section %s is missing", what, isa_section_name(k));

  out->bytes = b;
  out->size = size;
  out->header = h;
#define SEC_PTR(k) (by_kind[k] ? (const void *)(b + by_kind[k]->offset) : NULL)
  const isa_section_entry *e = by_kind[ISA_SEC_STRTAB];
  if (e->size == 0 || b[e->offset] != 0 || b[e->offset + e->size - 1] != 0)
    return FMT_ERR("%s: section STRTAB: must start and end with a NUL byte", what);
  if (e->size > UINT32_MAX) return FMT_ERR("%s: section STRTAB: larger than 4 GiB", what);
  out->strtab = (const char *)(b + e->offset);
  out->strtab_size = (size_t)e->size;
  out->symbols = SEC_PTR(ISA_SEC_SYMBOLS);
  out->n_symbols = count_of(by_kind[ISA_SEC_SYMBOLS], 4);
  out->imports = SEC_PTR(ISA_SEC_IMPORTS);
  out->n_imports = count_of(by_kind[ISA_SEC_IMPORTS], sizeof(isa_import_rec));
  out->tensors = SEC_PTR(ISA_SEC_TENSORS);
  out->n_tensors = count_of(by_kind[ISA_SEC_TENSORS], sizeof(isa_tensor_rec));
  out->dims = SEC_PTR(ISA_SEC_DIMS);
  out->n_dims = count_of(by_kind[ISA_SEC_DIMS], 8);
  out->consts = SEC_PTR(ISA_SEC_CONSTS);
  out->consts_size = by_kind[ISA_SEC_CONSTS] ? by_kind[ISA_SEC_CONSTS]->size : 0;
  out->code = SEC_PTR(ISA_SEC_CODE);
  out->n_instrs = count_of(by_kind[ISA_SEC_CODE], sizeof(isa_instr_rec));
  out->operands = SEC_PTR(ISA_SEC_OPERANDS);
  out->n_operands = count_of(by_kind[ISA_SEC_OPERANDS], 4);
  out->attrs = SEC_PTR(ISA_SEC_ATTRS);
  out->attrs_size = by_kind[ISA_SEC_ATTRS] ? by_kind[ISA_SEC_ATTRS]->size : 0;

  e = by_kind[ISA_SEC_IO];
  if (e->size < sizeof(isa_io_header))
    return FMT_ERR("%s: section IO: size %llu is smaller than its header", what,
                   (unsigned long long)e->size);
  const isa_io_header *io = (const isa_io_header *)(b + e->offset);
  if (e->size != sizeof *io + 4 * ((uint64_t)io->n_inputs + io->n_outputs))
    return FMT_ERR("%s: section IO: size %llu does not match %u inputs and %u outputs", what,
                   (unsigned long long)e->size, io->n_inputs, io->n_outputs);
  out->n_inputs = io->n_inputs;
  out->n_outputs = io->n_outputs;
  out->inputs = (const uint32_t *)(io + 1);
  out->outputs = out->inputs + io->n_inputs;

  e = by_kind[ISA_SEC_PLAN];
  if (e->size != sizeof(isa_plan_rec))
    return FMT_ERR("%s: section PLAN: size %llu, expected %zu", what, (unsigned long long)e->size,
                   sizeof(isa_plan_rec));
  out->plan = (const isa_plan_rec *)(b + e->offset);

  e = by_kind[ISA_SEC_DEBUG];
  if (e) {
    if (e->size != 4 * (uint64_t)out->n_instrs)
      return FMT_ERR("%s: section DEBUG: %llu entries for %u instructions", what,
                     (unsigned long long)(e->size / 4), out->n_instrs);
    out->debug = (const uint32_t *)(b + e->offset);
  }
#undef SEC_PTR
  return NULL;
}

const char *isa_module_str(const isa_module *m, uint32_t offset) {
  if (!m->strtab || offset >= m->strtab_size) return "";
  return m->strtab + offset;
}

/* ---- attributes ----------------------------------------------------------------------- */
/* Errors here carry no instruction prefix; callers add it (with the node name if known). */
ivm_status isa_decode_attrs_raw(const isa_module *m, uint32_t instr, const isa_op_desc *desc,
                                isa_attr *attrs) {
  isa_attrs_init_defaults(desc, attrs);
  const isa_instr_rec *in = &m->code[instr];
  uint64_t pos = in->attrs;
  if (in->n_attrs && pos % 8)
    return FMT_ERR("section ATTRS: record offset %llu is not 8-aligned", (unsigned long long)pos);
  for (uint32_t k = 0; k < in->n_attrs; k++) {
    if (pos > m->attrs_size || m->attrs_size - pos < sizeof(isa_attr_rec))
      return FMT_ERR(
          "section ATTRS: attribute %u at offset %llu is out of "
          "bounds",
          k, (unsigned long long)pos);
    const isa_attr_rec *r = (const isa_attr_rec *)(m->attrs + pos);
    if (r->name >= m->strtab_size)
      return FMT_ERR(
          "section ATTRS: attribute %u: name offset %u is outside "
          "STRTAB",
          k, r->name);
    const char *name = m->strtab + r->name;
    if (r->reserved[0] || r->reserved[1] || r->reserved[2] || r->reserved2)
      return FMT_ERR("attribute '%s': reserved bytes are not zero", name);
    uint64_t psize = isa_attr_payload_size(r->type, r->count);
    if (psize == UINT64_MAX) return FMT_ERR("attribute '%s': unknown type %u", name, r->type);
    if ((r->type == ISA_ATTR_INT || r->type == ISA_ATTR_FLOAT) && r->count != 1)
      return FMT_ERR("attribute '%s': scalar with count %u", name, r->count);
    pos += sizeof(isa_attr_rec);
    if (psize > m->attrs_size - pos)
      return FMT_ERR(
          "section ATTRS: attribute '%s' payload runs past the "
          "section",
          name);
    const uint8_t *payload = m->attrs + pos;
    pos += psize;
    if (r->type == ISA_ATTR_STRING &&
        (payload[r->count] != 0 || memchr(payload, 0, r->count) != NULL))
      return FMT_ERR(
          "attribute '%s': string is not NUL-terminated or "
          "contains NUL",
          name);
    int slot = isa_attr_index(desc, name);
    if (slot < 0) return FMT_ERR("unknown attribute '%s'", name);
    isa_attr *a = &attrs[slot];
    if (a->present) return FMT_ERR("attribute '%s' given twice", name);
    if (r->type != desc->attrs[slot].type)
      return FMT_ERR("attribute '%s' has type %s, expected %s", name, isa_attr_type_name(r->type),
                     isa_attr_type_name(desc->attrs[slot].type));
    a->present = 1;
    a->count = r->count;
    switch (r->type) {
      case ISA_ATTR_INT: memcpy(&a->v.i, payload, 8); break;
      case ISA_ATTR_FLOAT: memcpy(&a->v.f, payload, 4); break;
      case ISA_ATTR_STRING: a->v.s = (const char *)payload; break;
      case ISA_ATTR_INTS: a->v.ints = (const int64_t *)payload; break;
      case ISA_ATTR_FLOATS: a->v.floats = (const float *)payload; break;
    }
  }
  for (uint16_t s = 0; s < desc->n_attrs; s++)
    if (desc->attrs[s].required && !attrs[s].present)
      return FMT_ERR("required attribute '%s' is missing", desc->attrs[s].name);
  return NULL;
}

ivm_status isa_module_decode_attrs(const isa_module *m, uint32_t instr, const isa_op_desc *desc,
                                   isa_attr *attrs) {
  if (instr >= m->n_instrs)
    return FMT_ERR("instruction %u: out of range (%u instructions)", instr, m->n_instrs);
  return ivm_status_wrap(isa_decode_attrs_raw(m, instr, desc, attrs), "instruction %u (%s)", instr,
                         desc->name);
}
