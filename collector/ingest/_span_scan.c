/* The fast path of the OTLP span decoder: reads an ExportTraceServiceRequest's wire bytes and builds the
 * SpanRecord of every span that needs nothing but reading.
 *
 * collector/ingest/otlp_traces.py is the specification. This scanner implements the same rules for the common
 * case and hands every other span back to it: a span whose ids or times are rejected, any value that must be
 * cut or clamped, a token count sent as a double or a string, a span kind or status outside the stored range,
 * or a singular message field sent twice (protobuf merges those). A property test checks that both give the
 * same records on random requests (tests/collector/test_span_scan.py).
 *
 * Reading every attribute through protobuf's Python objects costs about 1 us per attribute; here a span of ten
 * attributes costs well under a microsecond, and only the values a row stores become Python objects.
 *
 * The request has been parsed by protobuf already (which validated it); anything this scanner does not expect
 * (groups, a truncated field) makes scan() return None, and the caller decodes the whole request in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Attribute slots, in the order the rules read them (otlp_traces.py's key tuples). */
enum {
    S_ML_MODEL_NAME, S_REQUEST_MODEL, S_RESPONSE_MODEL, S_LLM_MODEL_NAME, /* model name, in this order */
    S_MODEL_VERSION,
    S_PROVIDER_NAME, S_GEN_AI_SYSTEM, S_LLM_PROVIDER, /* provider */
    S_ML_OPERATION, S_OPERATION_NAME,                 /* operation */
    S_ERROR_TYPE,
    S_HARDWARE, /* the configured hardware-class attribute */
    S_INPUT_TOKENS, S_PROMPT_TOKENS, S_LLM_PROMPT,     /* input tokens */
    S_OUTPUT_TOKENS, S_COMPLETION_TOKENS, S_LLM_COMPLETION, /* output tokens */
    N_SLOTS
};
#define FIRST_INT_SLOT S_INPUT_TOKENS

/* Column widths (collector/core/limits.py), checked at import by the Python side. */
static const Py_ssize_t SLOT_LIMIT[FIRST_INT_SLOT] = {256, 256, 256, 256, 128, 128, 128, 128, 256, 256, 256, 64};
static const char *SLOT_KEY[N_SLOTS] = {
    "ml.model.name", "gen_ai.request.model", "gen_ai.response.model", "llm.model_name",
    "ml.model.version",
    "gen_ai.provider.name", "gen_ai.system", "llm.provider",
    "ml.operation", "gen_ai.operation.name",
    "error.type",
    NULL, /* set per call */
    "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
    "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
};
#define SPAN_NAME_CHARS 512
#define OPERATION_CHARS 256
#define MODEL_VERSION_CHARS 128
#define MAX_TOKENS 2147483647LL
#define MAX_SPAN_KIND 5
#define MAX_STATUS_CODE 2
#define RECORD_FIELDS 19

/* What an AnyValue held; NONE is also "attribute absent", which the rules treat alike. */
typedef enum { V_NONE, V_STRING, V_BOOL, V_INT, V_DOUBLE, V_OTHER } ValueKind;

typedef struct {
    ValueKind kind;
    const uint8_t *data; /* V_STRING */
    Py_ssize_t size;
    int64_t integer; /* V_INT, V_BOOL */
    double number;   /* V_DOUBLE */
} Value;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Cursor;

typedef struct {
    const uint8_t *data;
    Py_ssize_t size;
} Bytes;

typedef struct {
    Bytes raw, trace_id, span_id, parent_span_id, name;
    uint64_t kind, start, end, status_code;
    int status_seen;
    int slow;
    Value slots[N_SLOTS];
} SpanView;

typedef struct {
    const char *hardware_key;
    Py_ssize_t hardware_key_size;
    int keep_non_inference;
    int keep_raw;
    Py_ssize_t max_raw;
    PyTypeObject *record_type;
} Options;

static int read_varint(Cursor *c, uint64_t *out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && c->p < c->end; shift += 7) {
        uint8_t byte = *c->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return -1;
}

static int read_tag(Cursor *c, uint32_t *field, int *wire_type) {
    uint64_t tag;
    if (read_varint(c, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    *field = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    return 0;
}

static int read_len(Cursor *c, Cursor *inner) {
    uint64_t size;
    if (read_varint(c, &size) || size > (uint64_t)(c->end - c->p))
        return -1;
    inner->p = c->p;
    inner->end = c->p + size;
    c->p += size;
    return 0;
}

static int read_fixed64(Cursor *c, uint64_t *out) {
    if (c->end - c->p < 8)
        return -1;
    memcpy(out, c->p, 8); /* little-endian on every platform CPython supports here (checked at import) */
    c->p += 8;
    return 0;
}

/* Skips a field this scanner does not read; groups (unused by OTLP) are left to protobuf. */
static int skip(Cursor *c, int wire_type) {
    uint64_t ignored;
    Cursor inner;
    switch (wire_type) {
    case WT_VARINT:
        return read_varint(c, &ignored);
    case WT_I64:
        return read_fixed64(c, &ignored);
    case WT_LEN:
        return read_len(c, &inner);
    case WT_I32:
        if (c->end - c->p < 4)
            return -1;
        c->p += 4;
        return 0;
    default:
        return -1;
    }
}

static int read_any_value(Cursor c, Value *value) {
    uint32_t field;
    int wire_type;
    uint64_t number;
    Cursor inner;
    value->kind = V_NONE;
    while (c.p < c.end) {
        if (read_tag(&c, &field, &wire_type))
            return -1;
        if (field == 1 && wire_type == WT_LEN) {
            if (read_len(&c, &inner))
                return -1;
            value->kind = V_STRING;
            value->data = inner.p;
            value->size = inner.end - inner.p;
        } else if ((field == 2 || field == 3) && wire_type == WT_VARINT) {
            if (read_varint(&c, &number))
                return -1;
            value->kind = field == 2 ? V_BOOL : V_INT;
            value->integer = field == 2 ? number != 0 : (int64_t)number;
        } else if (field == 4 && wire_type == WT_I64) {
            if (read_fixed64(&c, &number))
                return -1;
            value->kind = V_DOUBLE;
            memcpy(&value->number, &number, 8);
        } else if (field >= 5 && field <= 7 && wire_type == WT_LEN) {
            if (read_len(&c, &inner))
                return -1;
            value->kind = V_OTHER; /* arrays, key-value lists and bytes are not read as text or counts */
        } else if (skip(&c, wire_type)) {
            return -1;
        }
    }
    return 0;
}

/* Characters (code points) in valid UTF-8: bytes that do not continue a sequence. */
static Py_ssize_t utf8_chars(const uint8_t *data, Py_ssize_t size) {
    Py_ssize_t chars = 0;
    for (Py_ssize_t i = 0; i < size; i++)
        chars += (data[i] & 0xc0) != 0x80;
    return chars;
}

static int text_fits(const uint8_t *data, Py_ssize_t size, Py_ssize_t limit) {
    return (size <= limit || utf8_chars(data, size) <= limit) && memchr(data, 0, size) == NULL;
}

/* Whether the Python decoder would cut or clamp this value of this slot, or read it in a way this scanner
 * does not (token counts sent as doubles or text). Numbers and booleans as text fit every column. */
static int needs_cutting(const Value *value, int slot) {
    if (slot < FIRST_INT_SLOT)
        return value->kind == V_STRING && !text_fits(value->data, value->size, SLOT_LIMIT[slot]);
    return value->kind == V_STRING || value->kind == V_DOUBLE || (value->kind == V_INT && value->integer > MAX_TOKENS);
}

static int slot_of(const uint8_t *key, Py_ssize_t size, const Options *options) {
    if (size == options->hardware_key_size && memcmp(key, options->hardware_key, size) == 0)
        return S_HARDWARE;
    for (int slot = 0; slot < N_SLOTS; slot++) {
        const char *name = SLOT_KEY[slot];
        if (name != NULL && (Py_ssize_t)strlen(name) == size && memcmp(key, name, size) == 0)
            return slot;
    }
    return -1;
}

static int read_attribute(Cursor c, SpanView *span, const Options *options) {
    uint32_t field;
    int wire_type;
    Cursor inner, key = {NULL, NULL}, value_bytes = {NULL, NULL};
    int value_seen = 0;
    while (c.p < c.end) {
        if (read_tag(&c, &field, &wire_type))
            return -1;
        if (field == 1 && wire_type == WT_LEN) {
            if (read_len(&c, &key))
                return -1;
        } else if (field == 2 && wire_type == WT_LEN) {
            if (read_len(&c, &inner))
                return -1;
            if (value_seen++)
                span->slow = 1; /* protobuf merges a value sent twice */
            value_bytes = inner;
        } else if (skip(&c, wire_type)) {
            return -1;
        }
    }
    if (key.p == NULL)
        return 0;
    int slot = slot_of(key.p, key.end - key.p, options);
    if (slot < 0)
        return 0;
    /* The last attribute with a key wins, as in the Python decoder's dict; but the decoder cuts (and counts)
     * every value it reads, so any one that needs cutting hands the span back. */
    Value value = {V_NONE, NULL, 0, 0, 0.0};
    if (value_bytes.p != NULL && read_any_value(value_bytes, &value))
        return -1;
    if (needs_cutting(&value, slot))
        span->slow = 1;
    span->slots[slot] = value;
    return 0;
}

static int read_status(Cursor c, SpanView *span) {
    uint32_t field;
    int wire_type;
    if (span->status_seen++)
        span->slow = 1;
    while (c.p < c.end) {
        if (read_tag(&c, &field, &wire_type))
            return -1;
        if (field == 3 && wire_type == WT_VARINT) {
            if (read_varint(&c, &span->status_code))
                return -1;
        } else if (skip(&c, wire_type)) {
            return -1;
        }
    }
    return 0;
}

static int read_span(Cursor c, SpanView *span, const Options *options) {
    uint32_t field;
    int wire_type;
    Cursor inner;
    memset(span, 0, sizeof(*span));
    span->raw.data = c.p;
    span->raw.size = c.end - c.p;
    while (c.p < c.end) {
        if (read_tag(&c, &field, &wire_type))
            return -1;
        if (wire_type == WT_LEN && (field == 1 || field == 2 || field == 4 || field == 5 || field == 9 || field == 15)) {
            if (read_len(&c, &inner))
                return -1;
            Bytes bytes = {inner.p, inner.end - inner.p};
            if (field == 1)
                span->trace_id = bytes;
            else if (field == 2)
                span->span_id = bytes;
            else if (field == 4)
                span->parent_span_id = bytes;
            else if (field == 5)
                span->name = bytes;
            else if (field == 9) {
                if (read_attribute(inner, span, options))
                    return -1;
            } else if (read_status(inner, span))
                return -1;
        } else if (field == 6 && wire_type == WT_VARINT) {
            if (read_varint(&c, &span->kind))
                return -1;
        } else if ((field == 7 || field == 8) && wire_type == WT_I64) {
            if (read_fixed64(&c, field == 7 ? &span->start : &span->end))
                return -1;
        } else if (skip(&c, wire_type)) {
            return -1;
        }
    }
    return 0;
}

static int all_zero(Bytes bytes) {
    for (Py_ssize_t i = 0; i < bytes.size; i++)
        if (bytes.data[i])
            return 0;
    return 1;
}

/* Whether the Python decoder would reject, cut or clamp anything in this span: then it decodes it. */
static int needs_python(const SpanView *span) {
    if (span->slow)
        return 1;
    if (span->trace_id.size != 16 || all_zero(span->trace_id) || span->span_id.size != 8 || all_zero(span->span_id))
        return 1;
    if (span->end > (uint64_t)INT64_MAX || span->end < span->start)
        return 1;
    if (span->kind > MAX_SPAN_KIND || span->status_code > MAX_STATUS_CODE)
        return 1;
    return !text_fits(span->name.data, span->name.size, SPAN_NAME_CHARS);
}

/* The text the Python decoder reads from a value (_string_value): a new reference, or NULL with no error for
 * None. On error NULL with an exception set. */
static PyObject *value_text(const Value *value) {
    switch (value->kind) {
    case V_STRING:
        return PyUnicode_DecodeUTF8((const char *)value->data, value->size, "strict");
    case V_INT:
        return PyUnicode_FromFormat("%lld", (long long)value->integer);
    case V_BOOL:
        return PyUnicode_FromString(value->integer ? "true" : "false");
    case V_DOUBLE: {
        PyObject *number = PyFloat_FromDouble(value->number);
        if (number == NULL)
            return NULL;
        PyObject *text = PyObject_Str(number);
        Py_DECREF(number);
        return text;
    }
    default:
        return NULL;
    }
}

static int is_text(const Value *value) {
    return value->kind == V_STRING || value->kind == V_INT || value->kind == V_BOOL || value->kind == V_DOUBLE;
}

static int nonempty_text(const Value *value) {
    return is_text(value) && !(value->kind == V_STRING && value->size == 0);
}

static int has_text(const SpanView *span, int first, int last) {
    for (int slot = first; slot <= last; slot++)
        if (nonempty_text(&span->slots[slot]))
            return 1;
    return 0;
}

/* The first non-empty text among slots [first, last], as _first_str; NULL with no error when none. */
static PyObject *first_text(const SpanView *span, int first, int last) {
    for (int slot = first; slot <= last; slot++) {
        if (nonempty_text(&span->slots[slot]))
            return value_text(&span->slots[slot]);
    }
    return NULL;
}

static PyObject *first_count(const SpanView *span, int first, int last) {
    for (int slot = first; slot <= last; slot++) {
        const Value *value = &span->slots[slot];
        if (value->kind == V_INT && value->integer >= 0)
            return PyLong_FromLongLong(value->integer);
    }
    Py_RETURN_NONE;
}

static PyObject *bytes_or_none(Bytes bytes) {
    if (bytes.size == 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)bytes.data, bytes.size);
}

static PyObject *none_if_null(PyObject *object) {
    if (object == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return object;
}

/* The model version when the span carries no ml.model.version: the served snapshot when it differs from the
 * requested model, else "". Sets *too_long when it is wider than the column (the Python decoder cuts it). */
static PyObject *derived_version(const SpanView *span, int *too_long) {
    PyObject *served = first_text(span, S_RESPONSE_MODEL, S_RESPONSE_MODEL);
    if (served == NULL && PyErr_Occurred())
        return NULL;
    PyObject *requested = first_text(span, S_REQUEST_MODEL, S_REQUEST_MODEL);
    if (requested == NULL && PyErr_Occurred()) {
        Py_XDECREF(served);
        return NULL;
    }
    PyObject *version;
    if (served != NULL && requested != NULL && PyUnicode_Compare(served, requested) != 0) {
        version = served;
        Py_INCREF(version);
    } else {
        version = PyUnicode_FromString("");
    }
    Py_XDECREF(served);
    Py_XDECREF(requested);
    if (version != NULL && PyUnicode_GET_LENGTH(version) > MODEL_VERSION_CHARS)
        *too_long = 1;
    return version;
}

/* Builds the record; returns NULL with an exception on error, or Py_None (borrowed) when the Python decoder
 * must decode this span after all. */
static PyObject *build_record(const SpanView *span, PyObject *service_name, PyObject *resource_hardware,
                              const Options *options, Py_ssize_t *raw_dropped) {
    PyObject *fields[RECORD_FIELDS] = {NULL};
    int too_long = 0;
    PyObject *model_name = first_text(span, S_ML_MODEL_NAME, S_LLM_MODEL_NAME);
    if (model_name == NULL && PyErr_Occurred())
        goto error;
    fields[6] = model_name ? model_name : (Py_INCREF(Py_None), Py_None);
    const Value *version = &span->slots[S_MODEL_VERSION];
    if (is_text(version))
        fields[7] = value_text(version);
    else if (model_name != NULL)
        fields[7] = derived_version(span, &too_long);
    else
        fields[7] = (Py_INCREF(Py_None), Py_None);
    if (fields[7] == NULL)
        goto error;
    fields[3] = PyUnicode_DecodeUTF8((const char *)span->name.data, span->name.size, "strict");
    if (fields[3] == NULL)
        goto error;
    PyObject *operation = first_text(span, S_ML_OPERATION, S_OPERATION_NAME);
    if (operation == NULL) {
        if (PyErr_Occurred())
            goto error;
        operation = fields[3];
        Py_INCREF(operation);
        if (PyUnicode_GET_LENGTH(operation) > OPERATION_CHARS)
            too_long = 1;
    }
    fields[8] = operation;
    if (too_long) {
        for (int i = 0; i < RECORD_FIELDS; i++)
            Py_XDECREF(fields[i]);
        return Py_None;
    }
    fields[0] = bytes_or_none(span->trace_id);
    fields[1] = bytes_or_none(span->span_id);
    fields[2] = bytes_or_none(span->parent_span_id);
    fields[4] = PyLong_FromUnsignedLongLong(span->kind);
    fields[5] = service_name;
    Py_INCREF(service_name);
    fields[9] = none_if_null(first_text(span, S_PROVIDER_NAME, S_LLM_PROVIDER));
    PyObject *hardware = first_text(span, S_HARDWARE, S_HARDWARE);
    if (hardware == NULL && !PyErr_Occurred()) {
        hardware = resource_hardware;
        Py_INCREF(hardware);
    }
    fields[10] = hardware;
    fields[11] = PyLong_FromUnsignedLongLong(span->start);
    fields[12] = PyLong_FromUnsignedLongLong(span->end);
    fields[13] = PyLong_FromUnsignedLongLong(span->status_code);
    fields[14] = is_text(&span->slots[S_ERROR_TYPE]) ? value_text(&span->slots[S_ERROR_TYPE])
                                                      : (Py_INCREF(Py_None), Py_None);
    fields[15] = first_count(span, S_INPUT_TOKENS, S_LLM_PROMPT);
    fields[16] = first_count(span, S_OUTPUT_TOKENS, S_LLM_COMPLETION);
    fields[17] = PyBool_FromLong(model_name != NULL);
    if (options->keep_raw && span->raw.size <= options->max_raw) {
        fields[18] = PyBytes_FromStringAndSize((const char *)span->raw.data, span->raw.size);
    } else {
        *raw_dropped += options->keep_raw;
        fields[18] = (Py_INCREF(Py_None), Py_None);
    }
    for (int i = 0; i < RECORD_FIELDS; i++)
        if (fields[i] == NULL)
            goto error;
    /* SpanRecord is a NamedTuple: a tuple subclass with no extra slots, so it is allocated and filled as one. */
    PyObject *record = options->record_type->tp_alloc(options->record_type, RECORD_FIELDS);
    if (record == NULL)
        goto error;
    for (int i = 0; i < RECORD_FIELDS; i++)
        PyTuple_SET_ITEM(record, i, fields[i]);
    return record;
error:
    for (int i = 0; i < RECORD_FIELDS; i++)
        Py_XDECREF(fields[i]);
    return NULL;
}

typedef struct {
    PyObject *records;  /* SpanRecords in request order, None where the Python decoder takes over */
    PyObject *handover; /* (span index, resource index, scope index, index in scope) of those */
    Py_ssize_t non_inference;
    Py_ssize_t raw_dropped;
    Py_ssize_t total;
} Scan;

/* 1: the span was handled; 0: the request is not what this scanner reads; -1: a Python error. */
static int scan_span(Cursor c, Scan *scan, PyObject *labels, const Options *options, Py_ssize_t resource,
                     Py_ssize_t scope, Py_ssize_t position) {
    SpanView span;
    Py_ssize_t index = scan->total++;
    if (read_span(c, &span, options))
        return 0;
    PyObject *record = Py_None;
    if (!needs_python(&span)) {
        int inference = has_text(&span, S_ML_MODEL_NAME, S_LLM_MODEL_NAME);
        if (!inference && !options->keep_non_inference) {
            scan->non_inference++;
            return 1;
        }
        PyObject *label = PyList_GET_ITEM(labels, resource);
        record = build_record(&span, PyTuple_GET_ITEM(label, 0), PyTuple_GET_ITEM(label, 1), options,
                              &scan->raw_dropped);
        if (record == NULL)
            return -1;
        /* A span handed back is counted by the Python decoder. */
        scan->non_inference += !inference && record != Py_None;
    }
    if (record == Py_None) {
        PyObject *where = Py_BuildValue("(nnnn)", index, resource, scope, position);
        if (where == NULL || PyList_Append(scan->handover, where)) {
            Py_XDECREF(where);
            return -1;
        }
        Py_DECREF(where);
        return PyList_Append(scan->records, Py_None) ? -1 : 1;
    }
    int failed = PyList_Append(scan->records, record);
    Py_DECREF(record);
    return failed ? -1 : 1;
}

/* The next occurrence of length-delimited field ``field`` in ``c``, skipping every other field: 1 with
 * ``inner`` set, 0 at the end, -1 when the bytes are not what this scanner reads. */
static int next_message(Cursor *c, uint32_t field, Cursor *inner) {
    uint32_t found;
    int wire_type;
    while (c->p < c->end) {
        if (read_tag(c, &found, &wire_type))
            return -1;
        if (found == field && wire_type == WT_LEN)
            return read_len(c, inner) ? -1 : 1;
        if (skip(c, wire_type))
            return -1;
    }
    return 0;
}

static int scan_request(Cursor request, Scan *scan, PyObject *labels, const Options *options) {
    Cursor resource_spans, scope_spans, span;
    Py_ssize_t resource = -1;
    int found;
    /* ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.scope_spans = 2, ScopeSpans.spans = 2. */
    while ((found = next_message(&request, 1, &resource_spans)) > 0) {
        if (++resource >= PyList_GET_SIZE(labels))
            return 0;
        Py_ssize_t scope = -1;
        while ((found = next_message(&resource_spans, 2, &scope_spans)) > 0) {
            scope++;
            Py_ssize_t position = -1;
            while ((found = next_message(&scope_spans, 2, &span)) > 0) {
                int handled = scan_span(span, scan, labels, options, resource, scope, ++position);
                if (handled <= 0)
                    return handled;
            }
            if (found < 0)
                return 0;
        }
        if (found < 0)
            return 0;
    }
    return found == 0 && resource + 1 == PyList_GET_SIZE(labels);
}

PyDoc_STRVAR(scan_doc,
             "scan(data, labels, hardware_key, keep_non_inference, keep_raw, max_raw, record_type)\n"
             "--\n\n"
             "Read an ExportTraceServiceRequest's bytes. ``labels`` holds (service name, hardware class) per\n"
             "resource, as the Python decoder computed them. Returns (records, handover, non_inference,\n"
             "raw_dropped, total): records in request order with None for each span in ``handover``, given as\n"
             "(span index, resource, scope, index in scope), which the Python decoder must decode. None when the\n"
             "request holds something this scanner does not read.");

static PyObject *scan(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *labels;
    Options options;
    if (!PyArg_ParseTuple(args, "y*O!s#ppnO!", &data, &PyList_Type, &labels, &options.hardware_key,
                          &options.hardware_key_size, &options.keep_non_inference, &options.keep_raw,
                          &options.max_raw, &PyType_Type, (PyObject **)&options.record_type))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(labels); i++) {
        PyObject *label = PyList_GET_ITEM(labels, i);
        if (!PyTuple_Check(label) || PyTuple_GET_SIZE(label) != 2) {
            PyBuffer_Release(&data);
            PyErr_SetString(PyExc_TypeError, "labels must hold (service name, hardware class) tuples");
            return NULL;
        }
    }
    if (!PyType_IsSubtype(options.record_type, &PyTuple_Type) || options.record_type->tp_basicsize != PyTuple_Type.tp_basicsize ||
        options.record_type->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_TypeError, "record_type must be a NamedTuple");
        return NULL;
    }
    Scan result = {PyList_New(0), PyList_New(0), 0, 0, 0};
    PyObject *answer = NULL;
    if (result.records != NULL && result.handover != NULL) {
        Cursor request = {(const uint8_t *)data.buf, (const uint8_t *)data.buf + data.len};
        int status = scan_request(request, &result, labels, &options);
        if (status > 0)
            answer = Py_BuildValue("(OOnnn)", result.records, result.handover, result.non_inference,
                                   result.raw_dropped, result.total);
        else if (status == 0)
            answer = (Py_INCREF(Py_None), Py_None);
    }
    Py_XDECREF(result.records);
    Py_XDECREF(result.handover);
    PyBuffer_Release(&data);
    return answer;
}

PyDoc_STRVAR(limits_doc, "The column widths compiled in, by attribute key, for the Python side to check.");

static PyObject *compiled_limits(PyObject *module, PyObject *unused) {
    PyObject *limits = PyDict_New();
    if (limits == NULL)
        return NULL;
    for (int slot = 0; slot < FIRST_INT_SLOT; slot++) {
        if (SLOT_KEY[slot] == NULL)
            continue;
        PyObject *width = PyLong_FromSsize_t(SLOT_LIMIT[slot]);
        if (width == NULL || PyDict_SetItemString(limits, SLOT_KEY[slot], width)) {
            Py_XDECREF(width);
            Py_DECREF(limits);
            return NULL;
        }
        Py_DECREF(width);
    }
    return Py_BuildValue("(Nnnnnnnn)", limits, (Py_ssize_t)SLOT_LIMIT[S_HARDWARE], (Py_ssize_t)SPAN_NAME_CHARS,
                         (Py_ssize_t)OPERATION_CHARS, (Py_ssize_t)MODEL_VERSION_CHARS, (Py_ssize_t)MAX_TOKENS,
                         (Py_ssize_t)MAX_SPAN_KIND, (Py_ssize_t)MAX_STATUS_CODE);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"compiled_limits", compiled_limits, METH_NOARGS, limits_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_span_scan", "The fast path of the OTLP span decoder (see otlp_traces.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__span_scan(void) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "_span_scan reads fixed64 fields as little-endian");
        return NULL;
    }
    return PyModule_Create(&module);
}
