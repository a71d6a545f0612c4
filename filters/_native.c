/* filters._native: C kernels for the hot loops of the C4 core (filters/kernels.py).
 *
 * Each kernel is the compiled twin of a pure-Python function that stays the specification
 * (tests/filters/test_native.py runs both on every real WET record and C4 document, on every
 * code point and on a property fuzz, and requires equal results, case by case):
 *
 *   clean_lines       filters.clean._clean_lines      (clean_page's line rules)
 *   split_wet_record  filters.wet._split_record_py    (a WET record's header lines and text)
 *   wet_record        filters.wet._fields_py          (a record's bytes -> fields and text)
 *   line_hashes       filters.dedup._line_hashes_py   (md5 of every line: the dedup keys)
 *   has_word          filters.badwords._has_word_py   (3.x's page bad-word search, spaced)
 *   punkt_at_least    filters.sentences.SentenceSplitter._at_least_py (punkt's n sentences)
 *   langdetect        langdetect 1.0.9's detect_langs, seed 0 (filters/langid.py)
 *
 * CPython's own definitions are used wherever Python's are subtle: line breaks, whitespace and
 * word characters (Py_UNICODE_ISLINEBREAK, Py_UNICODE_ISSPACE, Py_UNICODE_ISALNUM), lowercase
 * (_PyUnicode_ToLowerFull, or str.lower itself where the context matters: the final sigma).
 * ASCII is handled by hand (str.lower of ASCII changes A-Z only). The citation regex and 2.x's
 * bad-word matcher are called back, as given.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* MD5 (RFC 1321), one-shot: the dedup key of a line is md5(...).digest()                     */
/* ------------------------------------------------------------------------------------------ */

#define ROTL(x, c) (((x) << (c)) | ((x) >> (32 - (c))))
#define MD5_STEP(f, a, b, c, d, x, k, s) \
    (a) += f((b), (c), (d)) + (x) + (k);  \
    (a) = ROTL((a), (s)) + (b);
#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))

/* One 64-byte block, the 64 steps written out (constants and indices in place). */
static void
md5_block(uint32_t st[4], const unsigned char *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] | ((uint32_t)p[4 * i + 1] << 8) |
               ((uint32_t)p[4 * i + 2] << 16) | ((uint32_t)p[4 * i + 3] << 24);
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    MD5_STEP(MD5_F, a, b, c, d, w[0], 0xd76aa478, 7);
    MD5_STEP(MD5_F, d, a, b, c, w[1], 0xe8c7b756, 12);
    MD5_STEP(MD5_F, c, d, a, b, w[2], 0x242070db, 17);
    MD5_STEP(MD5_F, b, c, d, a, w[3], 0xc1bdceee, 22);
    MD5_STEP(MD5_F, a, b, c, d, w[4], 0xf57c0faf, 7);
    MD5_STEP(MD5_F, d, a, b, c, w[5], 0x4787c62a, 12);
    MD5_STEP(MD5_F, c, d, a, b, w[6], 0xa8304613, 17);
    MD5_STEP(MD5_F, b, c, d, a, w[7], 0xfd469501, 22);
    MD5_STEP(MD5_F, a, b, c, d, w[8], 0x698098d8, 7);
    MD5_STEP(MD5_F, d, a, b, c, w[9], 0x8b44f7af, 12);
    MD5_STEP(MD5_F, c, d, a, b, w[10], 0xffff5bb1, 17);
    MD5_STEP(MD5_F, b, c, d, a, w[11], 0x895cd7be, 22);
    MD5_STEP(MD5_F, a, b, c, d, w[12], 0x6b901122, 7);
    MD5_STEP(MD5_F, d, a, b, c, w[13], 0xfd987193, 12);
    MD5_STEP(MD5_F, c, d, a, b, w[14], 0xa679438e, 17);
    MD5_STEP(MD5_F, b, c, d, a, w[15], 0x49b40821, 22);
    MD5_STEP(MD5_G, a, b, c, d, w[1], 0xf61e2562, 5);
    MD5_STEP(MD5_G, d, a, b, c, w[6], 0xc040b340, 9);
    MD5_STEP(MD5_G, c, d, a, b, w[11], 0x265e5a51, 14);
    MD5_STEP(MD5_G, b, c, d, a, w[0], 0xe9b6c7aa, 20);
    MD5_STEP(MD5_G, a, b, c, d, w[5], 0xd62f105d, 5);
    MD5_STEP(MD5_G, d, a, b, c, w[10], 0x02441453, 9);
    MD5_STEP(MD5_G, c, d, a, b, w[15], 0xd8a1e681, 14);
    MD5_STEP(MD5_G, b, c, d, a, w[4], 0xe7d3fbc8, 20);
    MD5_STEP(MD5_G, a, b, c, d, w[9], 0x21e1cde6, 5);
    MD5_STEP(MD5_G, d, a, b, c, w[14], 0xc33707d6, 9);
    MD5_STEP(MD5_G, c, d, a, b, w[3], 0xf4d50d87, 14);
    MD5_STEP(MD5_G, b, c, d, a, w[8], 0x455a14ed, 20);
    MD5_STEP(MD5_G, a, b, c, d, w[13], 0xa9e3e905, 5);
    MD5_STEP(MD5_G, d, a, b, c, w[2], 0xfcefa3f8, 9);
    MD5_STEP(MD5_G, c, d, a, b, w[7], 0x676f02d9, 14);
    MD5_STEP(MD5_G, b, c, d, a, w[12], 0x8d2a4c8a, 20);
    MD5_STEP(MD5_H, a, b, c, d, w[5], 0xfffa3942, 4);
    MD5_STEP(MD5_H, d, a, b, c, w[8], 0x8771f681, 11);
    MD5_STEP(MD5_H, c, d, a, b, w[11], 0x6d9d6122, 16);
    MD5_STEP(MD5_H, b, c, d, a, w[14], 0xfde5380c, 23);
    MD5_STEP(MD5_H, a, b, c, d, w[1], 0xa4beea44, 4);
    MD5_STEP(MD5_H, d, a, b, c, w[4], 0x4bdecfa9, 11);
    MD5_STEP(MD5_H, c, d, a, b, w[7], 0xf6bb4b60, 16);
    MD5_STEP(MD5_H, b, c, d, a, w[10], 0xbebfbc70, 23);
    MD5_STEP(MD5_H, a, b, c, d, w[13], 0x289b7ec6, 4);
    MD5_STEP(MD5_H, d, a, b, c, w[0], 0xeaa127fa, 11);
    MD5_STEP(MD5_H, c, d, a, b, w[3], 0xd4ef3085, 16);
    MD5_STEP(MD5_H, b, c, d, a, w[6], 0x04881d05, 23);
    MD5_STEP(MD5_H, a, b, c, d, w[9], 0xd9d4d039, 4);
    MD5_STEP(MD5_H, d, a, b, c, w[12], 0xe6db99e5, 11);
    MD5_STEP(MD5_H, c, d, a, b, w[15], 0x1fa27cf8, 16);
    MD5_STEP(MD5_H, b, c, d, a, w[2], 0xc4ac5665, 23);
    MD5_STEP(MD5_I, a, b, c, d, w[0], 0xf4292244, 6);
    MD5_STEP(MD5_I, d, a, b, c, w[7], 0x432aff97, 10);
    MD5_STEP(MD5_I, c, d, a, b, w[14], 0xab9423a7, 15);
    MD5_STEP(MD5_I, b, c, d, a, w[5], 0xfc93a039, 21);
    MD5_STEP(MD5_I, a, b, c, d, w[12], 0x655b59c3, 6);
    MD5_STEP(MD5_I, d, a, b, c, w[3], 0x8f0ccc92, 10);
    MD5_STEP(MD5_I, c, d, a, b, w[10], 0xffeff47d, 15);
    MD5_STEP(MD5_I, b, c, d, a, w[1], 0x85845dd1, 21);
    MD5_STEP(MD5_I, a, b, c, d, w[8], 0x6fa87e4f, 6);
    MD5_STEP(MD5_I, d, a, b, c, w[15], 0xfe2ce6e0, 10);
    MD5_STEP(MD5_I, c, d, a, b, w[6], 0xa3014314, 15);
    MD5_STEP(MD5_I, b, c, d, a, w[13], 0x4e0811a1, 21);
    MD5_STEP(MD5_I, a, b, c, d, w[4], 0xf7537e82, 6);
    MD5_STEP(MD5_I, d, a, b, c, w[11], 0xbd3af235, 10);
    MD5_STEP(MD5_I, c, d, a, b, w[2], 0x2ad7d2bb, 15);
    MD5_STEP(MD5_I, b, c, d, a, w[9], 0xeb86d391, 21);
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

/* The 16-byte digest of data[0:len], as bytes. */
static PyObject *
md5_digest(const unsigned char *data, Py_ssize_t len)
{
    uint32_t st[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    Py_ssize_t full = len & ~(Py_ssize_t)63;
    for (Py_ssize_t at = 0; at < full; at += 64) {
        md5_block(st, data + at);
    }
    unsigned char tail[128];
    Py_ssize_t rest = len - full;
    memset(tail, 0, sizeof(tail));
    if (rest) {
        memcpy(tail, data + full, (size_t)rest);
    }
    tail[rest] = 0x80;
    Py_ssize_t tail_len = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len << 3;
    for (int i = 0; i < 8; i++) {
        tail[tail_len - 8 + i] = (unsigned char)(bits >> (8 * i));
    }
    md5_block(st, tail);
    if (tail_len == 128) {
        md5_block(st, tail + 64);
    }
    unsigned char out[16];
    for (int i = 0; i < 4; i++) {
        out[4 * i] = (unsigned char)st[i];
        out[4 * i + 1] = (unsigned char)(st[i] >> 8);
        out[4 * i + 2] = (unsigned char)(st[i] >> 16);
        out[4 * i + 3] = (unsigned char)(st[i] >> 24);
    }
    return PyBytes_FromStringAndSize((const char *)out, 16);
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers over a str's code points                                                           */
/* ------------------------------------------------------------------------------------------ */

/* A growable byte buffer, for lowercased ASCII lines. */
typedef struct {
    char *data;
    Py_ssize_t cap;
    char small[1024];
} Buffer;

static void
buffer_init(Buffer *b)
{
    b->data = b->small;
    b->cap = (Py_ssize_t)sizeof(b->small);
}

static int
buffer_reserve(Buffer *b, Py_ssize_t n)
{
    if (n <= b->cap) {
        return 0;
    }
    char *grown = PyMem_Malloc((size_t)n);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->data != b->small) {
        PyMem_Free(b->data);
    }
    b->data = grown;
    b->cap = n;
    return 0;
}

static void
buffer_free(Buffer *b)
{
    if (b->data != b->small) {
        PyMem_Free(b->data);
    }
}

#define READ(kind, data, i) PyUnicode_READ((kind), (data), (i))

/* The loops below are written once over PyUnicode_READ(kind, ...) and instantiated per kind:
 * ALWAYS_INLINE functions called with a constant kind compile to a tight loop per kind. */
#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* str.splitlines()'s line breaks below 128 (CPython's own table), and '[' (bit 2): a citation
 * may follow. The line breaks from 128 on are asked of CPython. */
static const unsigned char ASCII_CLASS[128] = {
    [0x0A] = 1, [0x0B] = 1, [0x0C] = 1, [0x0D] = 1, [0x1C] = 1, [0x1D] = 1, [0x1E] = 1,
    ['['] = 2,
};

/* Advance i over the characters for which QUIET(ch) holds, eight at a time while they all do:
 * one branch per eight characters (the per-kind loops compile to wide compares), then one by
 * one up to the first that does not (or n). QUIET must be free of side effects. */
#define SKIP_QUIET(kind, data, i, n, QUIET)                                              \
    do {                                                                                 \
        while ((i) + 8 <= (n)) {                                                         \
            int quiet_ = 1;                                                              \
            for (int k_ = 0; k_ < 8; k_++) {                                             \
                Py_UCS4 c_ = READ((kind), (data), (i) + k_);                             \
                quiet_ &= (QUIET(c_));                                                   \
            }                                                                            \
            if (!quiet_) {                                                               \
                break;                                                                   \
            }                                                                            \
            (i) += 8;                                                                    \
        }                                                                                \
        while ((i) < (n) && (QUIET(READ((kind), (data), (i))))) {                        \
            (i)++;                                                                       \
        }                                                                                \
    } while (0)

/* Strip CPython whitespace (str.strip()) from both ends of [*start, *end). */
static ALWAYS_INLINE void
strip_range(int kind, const void *data, Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t s = *start, e = *end;
    while (s < e && Py_UNICODE_ISSPACE(READ(kind, data, s))) {
        s++;
    }
    while (e > s && Py_UNICODE_ISSPACE(READ(kind, data, e - 1))) {
        e--;
    }
    *start = s;
    *end = e;
}

/* Characters that surely end no line (str.splitlines) and are no '[', skipped fast: printable
 * ASCII but '[', and from 128 on all but U+0085, U+2028 and U+2029, the only line breaks there
 * (tests/filters/test_native.py checks every code point). The others take the exact test. */
#define PLAIN_IN_LINE(ch) \
    (((ch) >= 0x20 && (ch) != '[' && (ch) != 0x85 && ((ch) | 1) != 0x2029))

/* Where the line starting at i ends (str.splitlines); *bracket: whether it holds a '['. */
static ALWAYS_INLINE Py_ssize_t
line_end(int kind, const void *data, Py_ssize_t i, Py_ssize_t n, int *bracket)
{
    int seen = 0;
    for (;;) {
        SKIP_QUIET(kind, data, i, n, PLAIN_IN_LINE);
        if (i >= n) {
            break;
        }
        Py_UCS4 ch = READ(kind, data, i);
        if (ch < 128) {
            unsigned char cls = ASCII_CLASS[ch];
            if (cls & 1) {
                break;
            }
            seen |= cls;
        }
        else if (Py_UNICODE_ISLINEBREAK(ch)) {
            break;
        }
        i++;
    }
    *bracket = seen;
    return i;
}

#define NOT_CR_LF(ch) ((ch) > '\r' || ((ch) != '\n' && (ch) != '\r'))

/* Where the piece starting at i ends at a '\r' or '\n' (split under universal newlines, where
 * the empty pieces do not matter). */
static ALWAYS_INLINE Py_ssize_t
newline_or_cr_end(int kind, const void *data, Py_ssize_t i, Py_ssize_t n)
{
    SKIP_QUIET(kind, data, i, n, NOT_CR_LF);
    return i;
}

#define NOT_LF(ch) ((ch) != '\n')

/* Where the "\n"-separated piece starting at i ends (str.split("\n")). */
static ALWAYS_INLINE Py_ssize_t
newline_end(int kind, const void *data, Py_ssize_t i, Py_ssize_t n)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        const char *hit = memchr((const char *)data + i, '\n', (size_t)(n - i));
        return hit == NULL ? n : hit - (const char *)data;
    }
    SKIP_QUIET(kind, data, i, n, NOT_LF);
    return i;
}

/* Whether some whitespace-separated word of s[start:end] is longer than limit (str.split()). */
static int
has_word_longer(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t limit)
{
    Py_ssize_t run = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (Py_UNICODE_ISSPACE(READ(kind, data, i))) {
            run = 0;
        }
        else if (++run > limit) {
            return 1;
        }
    }
    return 0;
}

/* min(len(s[start:end].split()), cap). */
static ALWAYS_INLINE Py_ssize_t
count_words(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t cap)
{
    Py_ssize_t words = 0;
    int in_word = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (Py_UNICODE_ISSPACE(READ(kind, data, i))) {
            in_word = 0;
        }
        else if (!in_word) {
            in_word = 1;
            if (++words >= cap) {
                return words;
            }
        }
    }
    return words;
}

/* ------------------------------------------------------------------------------------------ */
/* clean_lines: clean_page's line loop                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Interned at module init. */
static PyObject *KILL_LOREM, *KILL_SQUIGGLY, *KILL_BADWORD;
static PyObject *EMPTY, *STR_LOWER;

/* A line's fate under the rules after the citation step, in clean_page's order. */
enum { KEEP = 0, NO_ENDMARK, TOO_SHORT, JAVASCRIPT, POLICY, LOREM, SQUIGGLY, BADWORD };

/* Non-ASCII characters whose str.lower() holds ASCII (tests check this against every code
 * point): U+0130 -> "i\u0307", U+212A (Kelvin sign) -> "k". */
#define LOWER_TO_I_DOT 0x130
#define LOWER_TO_K 0x212A
#define NOT_ASCII '\x80' /* stands for any non-ASCII character of line.lower() */

/* line.lower() as the needles (ASCII) see it, into out (room for 2 per character): ASCII as
 * str.lower makes it, every non-ASCII character of the lowercase line as NOT_ASCII. A needle
 * occurs in line.lower() exactly when it occurs in this. *ascii: the line is ASCII. */
static ALWAYS_INLINE Py_ssize_t
lower_for_needles(int kind, const void *data, Py_ssize_t s, Py_ssize_t e, char *out, int *ascii)
{
    Py_ssize_t k = 0;
    int only_ascii = 1;
    for (Py_ssize_t i = s; i < e; i++) {
        Py_UCS4 ch = READ(kind, data, i);
        if (ch < 128) {
            out[k++] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
            continue;
        }
        only_ascii = 0;
        if (ch == LOWER_TO_K) {
            out[k++] = 'k';
        }
        else if (ch == LOWER_TO_I_DOT) {
            out[k++] = 'i';
            out[k++] = NOT_ASCII; /* U+0307 */
        }
        else {
            out[k++] = NOT_ASCII;
        }
    }
    *ascii = only_ascii;
    return k;
}

static int
has(const char *hay, Py_ssize_t n, const char *needle)
{
    /* memmem is not C99: the needles are short, memchr finds the candidates */
    size_t len = strlen(needle);
    const char *end = hay + n;
    while ((size_t)(end - hay) >= len) {
        const char *hit = memchr(hay, needle[0], (size_t)(end - hay) - len + 1);
        if (hit == NULL) {
            return 0;
        }
        if (memcmp(hit, needle, len) == 0) {
            return 1;
        }
        hay = hit + 1;
    }
    return 0;
}

static const char *const COOKIE_POLICY[] = {"cookie policy", "uses cookies", "use of cookies",
                                            "use cookies"};

/* The rules on line.lower() (as lower_for_needles gives it); '{' is its own lowercase, and no
 * other character's. */
static int
lowercase_rules(const char *low, Py_ssize_t n)
{
    if (has(low, n, "lorem ipsum")) {
        return LOREM;
    }
    if (has(low, n, "javascript")) {
        return JAVASCRIPT;
    }
    if (memchr(low, '{', (size_t)n) != NULL) {
        return SQUIGGLY;
    }
    if (has(low, n, "terms of use") || has(low, n, "privacy policy")) {
        return POLICY;
    }
    if (has(low, n, "cookie")) {
        for (size_t i = 0; i < sizeof(COOKIE_POLICY) / sizeof(COOKIE_POLICY[0]); i++) {
            if (has(low, n, COOKIE_POLICY[i])) {
                return POLICY;
            }
        }
    }
    return KEEP;
}

/* 2.x's bad-word matcher on line.lower(); src[s:e] is the line. */
static int
badword_rule(PyObject *badwords, PyObject *src, Py_ssize_t s, Py_ssize_t e, const char *low,
             Py_ssize_t n, int ascii)
{
    PyObject *lower;
    if (ascii) {
        lower = PyUnicode_DecodeASCII(low, n, NULL);
    }
    else {
        PyObject *line = PyUnicode_Substring(src, s, e);
        lower = line == NULL ? NULL : PyObject_CallMethodNoArgs(line, STR_LOWER);
        Py_XDECREF(line);
    }
    if (lower == NULL) {
        return -1;
    }
    PyObject *hit = PyObject_CallOneArg(badwords, lower);
    Py_DECREF(lower);
    if (hit == NULL) {
        return -1;
    }
    int yes = PyObject_IsTrue(hit);
    Py_DECREF(hit);
    return yes < 0 ? -1 : (yes ? BADWORD : KEEP);
}

/* The rules after the citation step on the line src[s:e] (src's kind and data given). */
static ALWAYS_INLINE int
line_rules(int kind, const void *data, PyObject *src, Py_ssize_t s, Py_ssize_t e, Buffer *buf,
           PyObject *badwords)
{
    Py_UCS4 last = e > s ? READ(kind, data, e - 1) : 0;
    if (!(last == '.' || last == '?' || last == '!' || last == '"')) {
        return NO_ENDMARK;
    }
    if (last == '.' && e - s >= 3 && READ(kind, data, e - 2) == '.' &&
        READ(kind, data, e - 3) == '.') {
        return NO_ENDMARK;
    }
    if (count_words(kind, data, s, e, 5) < 5) {
        return TOO_SHORT;
    }
    if (buffer_reserve(buf, 2 * (e - s) + 1) < 0) {
        return -1;
    }
    int ascii;
    Py_ssize_t n = lower_for_needles(kind, data, s, e, buf->data, &ascii);
    int verdict = lowercase_rules(buf->data, n);
    if (verdict != KEEP || badwords == Py_None) {
        return verdict;
    }
    return badword_rule(badwords, src, s, e, buf->data, n, ascii);
}

static int
line_rules_1(const void *d, PyObject *src, Py_ssize_t s, Py_ssize_t e, Buffer *b, PyObject *bw)
{
    return line_rules(PyUnicode_1BYTE_KIND, d, src, s, e, b, bw);
}

static int
line_rules_2(const void *d, PyObject *src, Py_ssize_t s, Py_ssize_t e, Buffer *b, PyObject *bw)
{
    return line_rules(PyUnicode_2BYTE_KIND, d, src, s, e, b, bw);
}

static int
line_rules_4(const void *d, PyObject *src, Py_ssize_t s, Py_ssize_t e, Buffer *b, PyObject *bw)
{
    return line_rules(PyUnicode_4BYTE_KIND, d, src, s, e, b, bw);
}

/* line_rules on a whole str of any kind (a line the citation regex rewrote). */
static int
line_rules_of(PyObject *line, Buffer *buf, PyObject *badwords)
{
    const void *d = PyUnicode_DATA(line);
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    switch (PyUnicode_KIND(line)) {
    case PyUnicode_1BYTE_KIND:
        return line_rules_1(d, line, 0, n, buf, badwords);
    case PyUnicode_2BYTE_KIND:
        return line_rules_2(d, line, 0, n, buf, badwords);
    default:
        return line_rules_4(d, line, 0, n, buf, badwords);
    }
}

typedef struct {
    Py_ssize_t too_long, no_endmark, too_short, javascript, policy;
    PyObject *kill; /* borrowed: an interned reason, or NULL */
} Tallies;

/* The loop over the lines of text, whose kind is kind; appends the kept lines to kept. */
static ALWAYS_INLINE int
clean_loop(int kind, PyObject *text, Py_ssize_t max_word_length, PyObject *badwords,
           PyObject *citations, PyObject *kept, Tallies *t)
{
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Buffer buf;
    buffer_init(&buf);
    Py_ssize_t i = 0;
    while (i < n) {
        int bracket;
        Py_ssize_t s = i, e = line_end(kind, data, i, n, &bracket);
        i = e;
        if (i < n) { /* \r\n is one line break */
            i += (READ(kind, data, i) == '\r' && i + 1 < n && READ(kind, data, i + 1) == '\n')
                     ? 2
                     : 1;
        }
        strip_range(kind, data, &s, &e);
        if (e - s > max_word_length && has_word_longer(kind, data, s, e, max_word_length)) {
            t->too_long++;
            continue;
        }
        PyObject *line = NULL; /* the line without citations, when '[' made one */
        int verdict;
        if (bracket) {
            PyObject *raw = PyUnicode_Substring(text, s, e);
            if (raw == NULL) {
                goto error;
            }
            line = PyObject_CallFunctionObjArgs(citations, EMPTY, raw, NULL);
            Py_DECREF(raw);
            if (line == NULL) {
                goto error;
            }
            if (!PyUnicode_Check(line)) {
                Py_DECREF(line);
                PyErr_SetString(PyExc_TypeError, "the citation remover must return str");
                goto error;
            }
            verdict = line_rules_of(line, &buf, badwords);
        }
        else {
            verdict = line_rules(kind, data, text, s, e, &buf, badwords);
        }
        switch (verdict) {
        case KEEP:
            if (line == NULL && (line = PyUnicode_Substring(text, s, e)) == NULL) {
                goto error;
            }
            if (PyList_Append(kept, line) < 0) {
                Py_DECREF(line);
                goto error;
            }
            break;
        case NO_ENDMARK:
            t->no_endmark++;
            break;
        case TOO_SHORT:
            t->too_short++;
            break;
        case JAVASCRIPT:
            t->javascript++;
            break;
        case POLICY:
            t->policy++;
            break;
        case LOREM:
            t->kill = KILL_LOREM;
            break;
        case SQUIGGLY:
            t->kill = KILL_SQUIGGLY;
            break;
        case BADWORD:
            t->kill = KILL_BADWORD;
            break;
        default:
            Py_XDECREF(line);
            goto error;
        }
        Py_XDECREF(line);
        if (t->kill != NULL) {
            break;
        }
    }
    buffer_free(&buf);
    return 0;
error:
    buffer_free(&buf);
    return -1;
}

static PyObject *
clean_lines(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *text, *badwords, *citations;
    Py_ssize_t max_word_length;
    if (!PyArg_ParseTuple(args, "UnOO:clean_lines", &text, &max_word_length, &badwords,
                          &citations)) {
        return NULL;
    }
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        return NULL;
    }
    Tallies t = {0, 0, 0, 0, 0, NULL};
    int status;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        status = clean_loop(PyUnicode_1BYTE_KIND, text, max_word_length, badwords, citations,
                            kept, &t);
        break;
    case PyUnicode_2BYTE_KIND:
        status = clean_loop(PyUnicode_2BYTE_KIND, text, max_word_length, badwords, citations,
                            kept, &t);
        break;
    default:
        status = clean_loop(PyUnicode_4BYTE_KIND, text, max_word_length, badwords, citations,
                            kept, &t);
    }
    if (status < 0) {
        Py_DECREF(kept);
        return NULL;
    }
    return Py_BuildValue("(ONnnnnn)", t.kill == NULL ? Py_None : t.kill, kept, t.too_long,
                         t.no_endmark, t.too_short, t.javascript, t.policy);
}

/* ------------------------------------------------------------------------------------------ */
/* split_wet_record: a WET record's stripped non-empty lines, header and text                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t start, end;
} Range;

#define MAX_PREFIXES 8

typedef struct {
    const char *text[MAX_PREFIXES];
    Py_ssize_t length[MAX_PREFIXES];
    Py_ssize_t count;
} Prefixes;

/* Whether s[start:end] starts with one of the (ASCII) prefixes: str.startswith(tuple). */
static ALWAYS_INLINE int
starts_with_any(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, const Prefixes *p)
{
    for (Py_ssize_t k = 0; k < p->count; k++) {
        Py_ssize_t len = p->length[k];
        if (end - start < len) {
            continue;
        }
        Py_ssize_t j = 0;
        while (j < len && READ(kind, data, start + j) == (Py_UCS4)(unsigned char)p->text[k][j]) {
            j++;
        }
        if (j == len) {
            return 1;
        }
    }
    return 0;
}

/* The lines of record: header lines appended to metadata, text lines' ranges to *body. Also the
 * largest character of the text lines (for the joined str) and their total length. */
static ALWAYS_INLINE int
wet_lines(int kind, PyObject *record, const Prefixes *p, PyObject *metadata, Range **body,
          Py_ssize_t *n_body, Py_ssize_t *total, Py_UCS4 *maxchar)
{
    const void *data = PyUnicode_DATA(record);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(record);
    const int ascii = PyUnicode_IS_ASCII(record);
    Py_ssize_t cap = 0;
    Py_ssize_t i = 0;
    while (i <= n) { /* the lines split at \r and \n, each stripped, empty ones dropped */
        Py_ssize_t s = i, e = newline_or_cr_end(kind, data, i, n);
        i = e + 1;
        strip_range(kind, data, &s, &e);
        if (s == e) {
            continue;
        }
        if (starts_with_any(kind, data, s, e, p)) {
            PyObject *line = PyUnicode_Substring(record, s, e);
            if (line == NULL || PyList_Append(metadata, line) < 0) {
                Py_XDECREF(line);
                return -1;
            }
            Py_DECREF(line);
            continue;
        }
        if (*n_body == cap) {
            cap = cap ? 2 * cap : 64;
            Range *grown = PyMem_Realloc(*body, (size_t)cap * sizeof(Range));
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            *body = grown;
        }
        (*body)[*n_body].start = s;
        (*body)[*n_body].end = e;
        (*n_body)++;
        *total += e - s;
        if (!ascii) {
            Py_UCS4 m = *maxchar;
            for (Py_ssize_t k = s; k < e; k++) {
                Py_UCS4 ch = READ(kind, data, k);
                m = ch > m ? ch : m;
            }
            *maxchar = m;
        }
    }
    return 0;
}

static PyObject *
split_wet_record(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *record, *prefix_tuple;
    if (!PyArg_ParseTuple(args, "UO!:split_wet_record", &record, &PyTuple_Type, &prefix_tuple)) {
        return NULL;
    }
    Prefixes p;
    p.count = PyTuple_GET_SIZE(prefix_tuple);
    if (p.count > MAX_PREFIXES) {
        PyErr_SetString(PyExc_ValueError, "too many prefixes");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < p.count; k++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefix_tuple, k);
        if (!PyUnicode_Check(prefix) || !PyUnicode_IS_ASCII(prefix)) {
            PyErr_SetString(PyExc_TypeError, "prefixes must be ASCII str");
            return NULL;
        }
        p.text[k] = (const char *)PyUnicode_DATA(prefix);
        p.length[k] = PyUnicode_GET_LENGTH(prefix);
    }
    PyObject *metadata = PyList_New(0);
    if (metadata == NULL) {
        return NULL;
    }
    Range *body = NULL;
    Py_ssize_t n_body = 0, total = 0;
    Py_UCS4 maxchar = 127; /* the join's "\n" is ASCII; the smallest kind that fits is taken */
    int status;
    const int kind = PyUnicode_KIND(record);
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        status = wet_lines(PyUnicode_1BYTE_KIND, record, &p, metadata, &body, &n_body, &total,
                           &maxchar);
        break;
    case PyUnicode_2BYTE_KIND:
        status = wet_lines(PyUnicode_2BYTE_KIND, record, &p, metadata, &body, &n_body, &total,
                           &maxchar);
        break;
    default:
        status = wet_lines(PyUnicode_4BYTE_KIND, record, &p, metadata, &body, &n_body, &total,
                           &maxchar);
    }
    PyObject *text = NULL;
    if (status == 0) {
        /* "\n".join(text lines), in the kind a str of these characters has (as join makes). */
        text = PyUnicode_New(n_body ? total + n_body - 1 : 0, n_body ? maxchar : 0);
    }
    if (text != NULL) {
        const int out_kind = PyUnicode_KIND(text);
        void *out = PyUnicode_DATA(text);
        const void *data = PyUnicode_DATA(record);
        Py_ssize_t at = 0;
        for (Py_ssize_t b = 0; b < n_body; b++) {
            if (b) {
                PyUnicode_WRITE(out_kind, out, at, '\n');
                at++;
            }
            Py_ssize_t len = body[b].end - body[b].start;
            if (out_kind == kind) {
                memcpy((char *)out + at * kind, (const char *)data + body[b].start * kind,
                       (size_t)(len * kind));
            }
            else if (PyUnicode_CopyCharacters(text, at, record, body[b].start, len) < 0) {
                Py_CLEAR(text);
                break;
            }
            at += len;
        }
    }
    PyMem_Free(body);
    if (text == NULL) {
        Py_DECREF(metadata);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, metadata, text);
    Py_DECREF(metadata);
    Py_DECREF(text);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* line_hashes: the md5 dedup key of every "\n"-separated line of a page                       */
/* ------------------------------------------------------------------------------------------ */

/* Append md5(data[0:len]) to out. */
static int
append_md5(PyObject *out, const char *data, Py_ssize_t len)
{
    PyObject *digest = md5_digest((const unsigned char *)data, len);
    if (digest == NULL) {
        return -1;
    }
    int status = PyList_Append(out, digest);
    Py_DECREF(digest);
    return status;
}

/* 2.2.0: md5(line.encode("utf-8").strip().lower()): bytes strip (ASCII whitespace) and lower.
 * The UTF-8 of a "\n"-split line is the "\n"-split of the text's UTF-8. */
static int
bytes_line_hashes(PyObject *text, PyObject *out)
{
    PyObject *encoded = PyUnicode_AsUTF8String(text);
    if (encoded == NULL) {
        return -1;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(encoded);
    Py_ssize_t n = PyBytes_GET_SIZE(encoded);
    Buffer buf;
    buffer_init(&buf);
    int status = 0;
    Py_ssize_t i = 0;
    while (i <= n) {
        const unsigned char *hit = memchr(p + i, '\n', (size_t)(n - i));
        Py_ssize_t s = i, e = hit == NULL ? n : hit - p;
        i = e + 1;
        while (s < e && Py_ISSPACE(p[s])) {
            s++;
        }
        while (e > s && Py_ISSPACE(p[e - 1])) {
            e--;
        }
        if (buffer_reserve(&buf, e - s + 1) < 0) {
            status = -1;
            break;
        }
        for (Py_ssize_t k = s; k < e; k++) {
            buf.data[k - s] = (char)Py_TOLOWER(p[k]);
        }
        if (append_md5(out, buf.data, e - s) < 0) {
            status = -1;
            break;
        }
    }
    buffer_free(&buf);
    Py_DECREF(encoded);
    return status;
}

#define CAPITAL_SIGMA 0x3A3 /* str.lower looks at its neighbours (final sigma): left to Python */

/* The UTF-8 of s[start:end].lower() into buf (room for 12 bytes per character: up to three
 * lowercase characters of 4 bytes each). Returns the length, or -1 where Python must do it: a
 * capital sigma, or a surrogate (its encoding raises). */
static ALWAYS_INLINE Py_ssize_t
utf8_lower(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, unsigned char *out)
{
    Py_ssize_t k = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 ch = READ(kind, data, i);
        if (ch < 128) {
            out[k++] = (unsigned char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
            continue;
        }
        if (ch == CAPITAL_SIGMA) {
            return -1;
        }
        Py_UCS4 mapped[3];
        int n_mapped = _PyUnicode_ToLowerFull(ch, mapped);
        for (int j = 0; j < n_mapped; j++) {
            Py_UCS4 c = mapped[j];
            if (c < 0x80) {
                out[k++] = (unsigned char)c;
            }
            else if (c < 0x800) {
                out[k++] = (unsigned char)(0xC0 | (c >> 6));
                out[k++] = (unsigned char)(0x80 | (c & 0x3F));
            }
            else if (c < 0x10000) {
                if (c >= 0xD800 && c <= 0xDFFF) {
                    return -1;
                }
                out[k++] = (unsigned char)(0xE0 | (c >> 12));
                out[k++] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
                out[k++] = (unsigned char)(0x80 | (c & 0x3F));
            }
            else {
                out[k++] = (unsigned char)(0xF0 | (c >> 18));
                out[k++] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
                out[k++] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
                out[k++] = (unsigned char)(0x80 | (c & 0x3F));
            }
        }
    }
    return k;
}

/* 3.x: md5(line.strip().lower().encode("utf-8")): str strip and lower. */
static ALWAYS_INLINE int
unicode_line_hashes(int kind, PyObject *text, PyObject *out)
{
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Buffer buf;
    buffer_init(&buf);
    int status = 0;
    Py_ssize_t i = 0;
    while (i <= n) {
        Py_ssize_t s = i, e = newline_end(kind, data, i, n);
        i = e + 1;
        strip_range(kind, data, &s, &e);
        if (buffer_reserve(&buf, 12 * (e - s) + 1) < 0) {
            status = -1;
            break;
        }
        Py_ssize_t len = utf8_lower(kind, data, s, e, (unsigned char *)buf.data);
        if (len >= 0) {
            status = append_md5(out, buf.data, len);
        }
        else { /* Python's own lower and encode */
            PyObject *line = PyUnicode_Substring(text, s, e);
            PyObject *lower = line == NULL ? NULL : PyObject_CallMethodNoArgs(line, STR_LOWER);
            Py_XDECREF(line);
            PyObject *encoded = lower == NULL ? NULL : PyUnicode_AsUTF8String(lower);
            Py_XDECREF(lower);
            status = encoded == NULL ? -1
                                     : append_md5(out, PyBytes_AS_STRING(encoded),
                                                  PyBytes_GET_SIZE(encoded));
            Py_XDECREF(encoded);
        }
        if (status < 0) {
            break;
        }
    }
    buffer_free(&buf);
    return status;
}

static PyObject *
line_hashes(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *text;
    int bytes_rule;
    if (!PyArg_ParseTuple(args, "Up:line_hashes", &text, &bytes_rule)) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    int status;
    if (bytes_rule) {
        status = bytes_line_hashes(text, out);
    }
    else {
        switch (PyUnicode_KIND(text)) {
        case PyUnicode_1BYTE_KIND:
            status = unicode_line_hashes(PyUnicode_1BYTE_KIND, text, out);
            break;
        case PyUnicode_2BYTE_KIND:
            status = unicode_line_hashes(PyUnicode_2BYTE_KIND, text, out);
            break;
        default:
            status = unicode_line_hashes(PyUnicode_4BYTE_KIND, text, out);
        }
    }
    if (status < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Word lists: 3.x's page bad-word search for spaced languages                                  */
/* ------------------------------------------------------------------------------------------ */

/* A word list, searched as re.compile(r"\W(?:w1|w2|...)(?:\W|$)").search(" " + text.lower())
 * finds it: some word of the list at a position of the lowercase text where the character
 * before it (if any) is not a word character (re's \w: str.isalnum() or '_'), nor the one after
 * it (if any). Words are indexed by their first two characters when both are ASCII. */
typedef struct {
    Py_ssize_t n;
    Py_UCS4 *chars;         /* every word's characters, one after the other */
    Py_ssize_t *offset;     /* word i is chars[offset[i]:offset[i + 1]] */
    Py_ssize_t *pair_start; /* [c1 * 128 + c2]: the words starting c1 c2 (ASCII) are */
    Py_ssize_t *pair_end;   /* order[pair_start:pair_end] */
    Py_ssize_t *order;
    Py_ssize_t n_paired; /* order[n_paired:] are the others (shorter or starting non-ASCII), */
    Py_UCS4 *other_first; /* sorted by their first character: other_first[k - n_paired] */
    Py_ssize_t n_empty;   /* how many words are empty (first in the others) */
} WordList;

#define WORD_LIST_CAPSULE "filters._native.WordList"

static void
word_list_free(PyObject *capsule)
{
    WordList *w = PyCapsule_GetPointer(capsule, WORD_LIST_CAPSULE);
    if (w == NULL) {
        return;
    }
    PyMem_Free(w->chars);
    PyMem_Free(w->offset);
    PyMem_Free(w->pair_start);
    PyMem_Free(w->pair_end);
    PyMem_Free(w->order);
    PyMem_Free(w->other_first);
    PyMem_Free(w);
}

static int
paired(const WordList *w, Py_ssize_t i)
{
    Py_ssize_t at = w->offset[i];
    return w->offset[i + 1] - at >= 2 && w->chars[at] < 128 && w->chars[at + 1] < 128;
}

static PyObject *
word_list(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyObject *words = PySequence_Fast(arg, "word_list takes a sequence of str");
    if (words == NULL) {
        return NULL;
    }
    if (PySequence_Fast_GET_SIZE(words) == 0) {
        /* No words: the alternation of none is the empty pattern, which is the empty word's. */
        Py_DECREF(words);
        words = PyTuple_Pack(1, EMPTY);
        if (words == NULL) {
            return NULL;
        }
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(words), total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PySequence_Fast_GET_ITEM(words, i);
        if (!PyUnicode_Check(word)) {
            Py_DECREF(words);
            PyErr_SetString(PyExc_TypeError, "word_list takes a sequence of str");
            return NULL;
        }
        total += PyUnicode_GET_LENGTH(word);
    }
    WordList *w = PyMem_Calloc(1, sizeof(WordList));
    if (w == NULL) {
        Py_DECREF(words);
        return PyErr_NoMemory();
    }
    w->n = n;
    w->chars = PyMem_Malloc((size_t)(total + 1) * sizeof(Py_UCS4));
    w->offset = PyMem_Malloc((size_t)(n + 1) * sizeof(Py_ssize_t));
    w->pair_start = PyMem_Calloc(128 * 128, sizeof(Py_ssize_t));
    w->pair_end = PyMem_Calloc(128 * 128, sizeof(Py_ssize_t));
    w->order = PyMem_Malloc((size_t)(n + 1) * sizeof(Py_ssize_t));
    PyObject *capsule = NULL;
    if (!w->chars || !w->offset || !w->pair_start || !w->pair_end || !w->order) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PySequence_Fast_GET_ITEM(words, i);
        w->offset[i] = at;
        if (PyUnicode_AsUCS4(word, w->chars + at, total + 1 - at, 0) == NULL) {
            goto done;
        }
        at += PyUnicode_GET_LENGTH(word);
    }
    w->offset[n] = at;
    /* order: the paired words grouped by their first two characters (counting sort), then the
     * others */
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (paired(w, i)) {
            w->pair_end[w->chars[w->offset[i]] * 128 + w->chars[w->offset[i] + 1]]++;
        }
    }
    for (Py_ssize_t key = 0; key < 128 * 128; key++) {
        Py_ssize_t count = w->pair_end[key];
        w->pair_start[key] = k;
        w->pair_end[key] = k;
        k += count;
    }
    w->n_paired = k;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (paired(w, i)) {
            Py_ssize_t key = w->chars[w->offset[i]] * 128 + w->chars[w->offset[i] + 1];
            w->order[w->pair_end[key]++] = i;
        }
        else {
            w->order[k++] = i;
        }
    }
    /* the others by first character (insertion sort: a few words), empty words first */
    w->other_first = PyMem_Malloc((size_t)(n - w->n_paired + 1) * sizeof(Py_UCS4));
    if (w->other_first == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t a = w->n_paired; a < n; a++) {
        Py_ssize_t i = w->order[a], b = a;
        int64_t first = w->offset[i + 1] > w->offset[i] ? (int64_t)w->chars[w->offset[i]] : -1;
        while (b > w->n_paired) {
            Py_ssize_t j = w->order[b - 1];
            int64_t f = w->offset[j + 1] > w->offset[j] ? (int64_t)w->chars[w->offset[j]] : -1;
            if (f <= first) {
                break;
            }
            w->order[b] = j;
            b--;
        }
        w->order[b] = i;
    }
    for (Py_ssize_t a = w->n_paired; a < n; a++) {
        Py_ssize_t i = w->order[a];
        if (w->offset[i + 1] == w->offset[i]) {
            w->n_empty++;
            w->other_first[a - w->n_paired] = 0;
        }
        else {
            w->other_first[a - w->n_paired] = w->chars[w->offset[i]];
        }
    }
    capsule = PyCapsule_New(w, WORD_LIST_CAPSULE, word_list_free);
done:
    Py_DECREF(words);
    if (capsule == NULL) {
        PyMem_Free(w->chars);
        PyMem_Free(w->offset);
        PyMem_Free(w->pair_start);
        PyMem_Free(w->pair_end);
        PyMem_Free(w->order);
        PyMem_Free(w->other_first);
        PyMem_Free(w);
    }
    return capsule;
}

/* re's \w for str patterns (sre: SRE_UNI_IS_WORD). */
static ALWAYS_INLINE int
is_word_char(Py_UCS4 ch)
{
    if (ch < 128) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_';
    }
    return Py_UNICODE_ISALNUM(ch);
}

/* Whether word i of w is at s[p:] and ends at the end of s or before a non-word character. */
static ALWAYS_INLINE int
word_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t p, const WordList *w, Py_ssize_t i)
{
    const Py_UCS4 *word = w->chars + w->offset[i];
    Py_ssize_t len = w->offset[i + 1] - w->offset[i];
    if (n - p < len) {
        return 0;
    }
    for (Py_ssize_t j = 0; j < len; j++) {
        if (READ(kind, data, p + j) != word[j]) {
            return 0;
        }
    }
    return p + len == n || !is_word_char(READ(kind, data, p + len));
}

/* Whether one of the words not indexed by their first two characters is at s[p:] (ch = s[p]). */
static ALWAYS_INLINE int
other_words(int kind, const void *data, Py_ssize_t n, Py_ssize_t p, Py_UCS4 ch, const WordList *w)
{
    const Py_UCS4 *first = w->other_first;
    Py_ssize_t lo = w->n_empty, hi = w->n - w->n_paired;
    for (Py_ssize_t e = 0; e < w->n_empty; e++) {
        if (word_at(kind, data, n, p, w, w->order[w->n_paired + e])) {
            return 1;
        }
    }
    while (lo < hi) { /* the first word starting with ch or later */
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (first[mid] < ch) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    for (; lo < w->n - w->n_paired && first[lo] == ch; lo++) {
        if (word_at(kind, data, n, p, w, w->order[w->n_paired + lo])) {
            return 1;
        }
    }
    return 0;
}

/* The search over lower, a lowercase text of the given kind. */
static ALWAYS_INLINE int
search_words(int kind, PyObject *lower, const WordList *w)
{
    const void *data = PyUnicode_DATA(lower);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(lower);
    int after_word = 0; /* the character before p is a word character */
    for (Py_ssize_t p = 0; p < n; p++) {
        Py_UCS4 ch = READ(kind, data, p);
        if (!after_word) {
            if (ch < 128 && p + 1 < n) {
                Py_UCS4 next = READ(kind, data, p + 1);
                if (next < 128) {
                    Py_ssize_t key = ch * 128 + next;
                    for (Py_ssize_t k = w->pair_start[key]; k < w->pair_end[key]; k++) {
                        if (word_at(kind, data, n, p, w, w->order[k])) {
                            return 1;
                        }
                    }
                }
            }
            if (other_words(kind, data, n, p, ch, w)) {
                return 1;
            }
        }
        after_word = is_word_char(ch);
    }
    /* an empty word also matches at the very end, after a non-word character */
    return !after_word && w->n_empty && word_at(kind, data, n, n, w, w->order[w->n_paired]);
}

static PyObject *
has_word(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *capsule, *text;
    if (!PyArg_ParseTuple(args, "OU:has_word", &capsule, &text)) {
        return NULL;
    }
    const WordList *w = PyCapsule_GetPointer(capsule, WORD_LIST_CAPSULE);
    if (w == NULL) {
        return NULL;
    }
    PyObject *lower = PyObject_CallMethodNoArgs(text, STR_LOWER);
    if (lower == NULL) {
        return NULL;
    }
    int found;
    switch (PyUnicode_KIND(lower)) {
    case PyUnicode_1BYTE_KIND:
        found = search_words(PyUnicode_1BYTE_KIND, lower, w);
        break;
    case PyUnicode_2BYTE_KIND:
        found = search_words(PyUnicode_2BYTE_KIND, lower, w);
        break;
    default:
        found = search_words(PyUnicode_4BYTE_KIND, lower, w);
    }
    Py_DECREF(lower);
    return PyBool_FromLong(found);
}

static PyObject *
md5(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *digest = md5_digest((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return digest;
}

/* ---- S1: wet reader ---- */
/* wet_record: a WET record's bytes -> its header fields and text, decoded and split in one call */
/* (filters.wet._fields_py: strict UTF-8 decode, _split_record_py, the header fields).          */
/*                                                                                            */
/* Lines split at '\r' and '\n' (split_wet_record's one pass), stripped and dropped as there,   */
/* but on the bytes: a multi-byte UTF-8 sequence holds no byte below 0x80, so the lines and    */
/* their ends are the same. Every byte is checked as strict UTF-8 exactly once: the text lines */
/* (joined) and the header values by CPython's decoder, the whitespace stripped by a strict    */
/* decode of one code point, the other header lines by CPython's decoder. Any invalid byte     */
/* gives None (the reader's invalid_utf8), as data.decode("utf-8") raising would.              */

/* The metadata prefixes of filters.wet._METADATA_PREFIXES (TFDS), and the header fields read
 * (filters.wet._FIELD_KEYS, in _fields_py's order; the last three keep their first value). */
static const char *const WET_PREFIXES[] = {"WARC", "CONTENT-", "Content-"};
#define WET_N_FIELDS 7
#define WET_FIRST_WINS 4
static const char *const WET_KEYS[WET_N_FIELDS] = {
    "WARC-Target-URI", "WARC-Date",         "Content-Type", "Content-Length",
    "WARC-Record-ID",  "WARC-Block-Digest", "WARC-Type",
};

/* The code point of the strictly valid UTF-8 sequence at p[0:n) (its length in *len), or -1:
 * no overlong forms, no surrogates, nothing above U+10FFFF (CPython's "strict" decoder). */
static long
utf8_one(const unsigned char *p, Py_ssize_t n, int *len)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    int need;
    long cp;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    }
    else {
        return -1;
    }
    if (n < need + 1) {
        return -1;
    }
    for (int k = 1; k <= need; k++) {
        unsigned char b = p[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
            return -1;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    *len = need + 1;
    return cp;
}

/* The length of the whitespace character (Py_UNICODE_ISSPACE) that starts at p[0:n), or 0. */
static ALWAYS_INLINE int
space_at(const unsigned char *p, Py_ssize_t n)
{
    if (p[0] < 0x80) {
        return Py_UNICODE_ISSPACE(p[0]) ? 1 : 0;
    }
    int len;
    long cp = utf8_one(p, n, &len);
    return cp >= 0 && Py_UNICODE_ISSPACE((Py_UCS4)cp) ? len : 0;
}

/* The length of the whitespace character that ends at end (not before start), or 0. */
static ALWAYS_INLINE int
space_before(const unsigned char *start, const unsigned char *end)
{
    unsigned char c = end[-1];
    if (c < 0x80) {
        return Py_UNICODE_ISSPACE(c) ? 1 : 0;
    }
    for (int k = 1; k <= 4 && end - k >= start; k++) {
        if ((end[-k] & 0xC0) != 0x80) { /* the sequence's first byte */
            int len;
            long cp = utf8_one(end - k, k, &len);
            return cp >= 0 && len == k && Py_UNICODE_ISSPACE((Py_UCS4)cp) ? k : 0;
        }
    }
    return 0;
}

/* str.strip() of the bytes [*s, *e), for whitespace that is valid UTF-8. */
static ALWAYS_INLINE void
strip_bytes(const unsigned char *d, Py_ssize_t *s, Py_ssize_t *e)
{
    Py_ssize_t a = *s, b = *e;
    int k;
    while (a < b && (k = space_at(d + a, b - a)) > 0) {
        a += k;
    }
    while (b > a && (k = space_before(d + a, d + b)) > 0) {
        b -= k;
    }
    *s = a;
    *e = b;
}

/* Which header field the metadata line d[s:e) sets (key before its first ':'), -1 if none;
 * *value: where its value starts. */
static int
wet_field(const unsigned char *d, Py_ssize_t s, Py_ssize_t e, Py_ssize_t *value)
{
    const unsigned char *colon = memchr(d + s, ':', (size_t)(e - s));
    if (colon == NULL) {
        return -1;
    }
    size_t klen = (size_t)(colon - (d + s));
    *value = colon - d + 1;
    for (int f = 0; f < WET_N_FIELDS; f++) {
        if (strlen(WET_KEYS[f]) == klen && memcmp(d + s, WET_KEYS[f], klen) == 0) {
            return f;
        }
    }
    return -1;
}

/* The bytes as strict UTF-8, 1 where they are not (the error cleared), -1 on another error. */
static int
decode_or_invalid(const unsigned char *p, Py_ssize_t n, PyObject **out)
{
    *out = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (*out != NULL) {
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return 1;
    }
    return -1;
}

/* Fills fields[] and *text from d[0:n); 1: not UTF-8, -1: error. */
static int
wet_record_parts(const unsigned char *d, Py_ssize_t n, PyObject **fields, PyObject **text)
{
    Range *body = NULL;
    Py_ssize_t n_body = 0, cap = 0, total = 0;
    Py_ssize_t next_lf = -1, next_cr = -1; /* the next '\n' and '\r' at or after i (n: none) */
    int status = 0;
    Py_ssize_t i = 0;
    while (i <= n && status == 0) {
        if (next_lf < i) {
            const unsigned char *hit = i < n ? memchr(d + i, '\n', (size_t)(n - i)) : NULL;
            next_lf = hit ? hit - d : n;
        }
        if (next_cr < i) {
            const unsigned char *hit = i < n ? memchr(d + i, '\r', (size_t)(n - i)) : NULL;
            next_cr = hit ? hit - d : n;
        }
        Py_ssize_t s = i, e = next_lf < next_cr ? next_lf : next_cr;
        i = e + 1;
        strip_bytes(d, &s, &e);
        if (s == e) {
            continue;
        }
        int meta = 0;
        for (size_t k = 0; k < sizeof(WET_PREFIXES) / sizeof(WET_PREFIXES[0]); k++) {
            size_t plen = strlen(WET_PREFIXES[k]);
            if ((size_t)(e - s) >= plen && memcmp(d + s, WET_PREFIXES[k], plen) == 0) {
                meta = 1;
                break;
            }
        }
        if (meta) {
            Py_ssize_t vs = 0, ve = e;
            int f = wet_field(d, s, e, &vs);
            PyObject *value = NULL;
            if (f >= 0 && !(f >= WET_FIRST_WINS && fields[f] != NULL)) {
                strip_bytes(d, &vs, &ve); /* the key and ':' are ASCII: the line is checked */
                status = decode_or_invalid(d + vs, ve - vs, &value);
                if (status == 0) {
                    Py_XSETREF(fields[f], value);
                }
            }
            else { /* not read, but checked: the record must decode whole */
                status = decode_or_invalid(d + s, e - s, &value);
                Py_XDECREF(value);
            }
            continue;
        }
        if (n_body == cap) {
            cap = cap ? 2 * cap : 64;
            Range *grown = PyMem_Realloc(body, (size_t)cap * sizeof(Range));
            if (grown == NULL) {
                PyErr_NoMemory();
                status = -1;
                break;
            }
            body = grown;
        }
        body[n_body].start = s;
        body[n_body].end = e;
        n_body++;
        total += e - s;
    }
    if (status == 0) {
        /* "\n".join(text lines): where they already stand so in d, decoded in place. */
        int contiguous = 1;
        for (Py_ssize_t b = 1; b < n_body && contiguous; b++) {
            contiguous = body[b].start == body[b - 1].end + 1 && d[body[b - 1].end] == '\n';
        }
        if (n_body == 0) {
            status = decode_or_invalid(d, 0, text);
        }
        else if (contiguous) {
            status = decode_or_invalid(d + body[0].start, body[n_body - 1].end - body[0].start,
                                       text);
        }
        else {
            unsigned char *joined = PyMem_Malloc((size_t)(total + n_body));
            if (joined == NULL) {
                PyErr_NoMemory();
                status = -1;
            }
            else {
                Py_ssize_t at = 0;
                for (Py_ssize_t b = 0; b < n_body; b++) {
                    if (b) {
                        joined[at++] = '\n';
                    }
                    memcpy(joined + at, d + body[b].start, (size_t)(body[b].end - body[b].start));
                    at += body[b].end - body[b].start;
                }
                status = decode_or_invalid(joined, at, text);
                PyMem_Free(joined);
            }
        }
    }
    PyMem_Free(body);
    return status;
}

static PyObject *
wet_record(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn:wet_record", &view, &start, &end)) {
        return NULL;
    }
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "wet_record: range outside the buffer");
        return NULL;
    }
    PyObject *fields[WET_N_FIELDS] = {NULL};
    PyObject *text = NULL;
    int status = wet_record_parts((const unsigned char *)view.buf + start, end - start, fields,
                                  &text);
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (status == 1) {
        result = Py_NewRef(Py_None);
    }
    else if (status == 0) {
        result = PyTuple_New(WET_N_FIELDS + 1);
    }
    if (result != NULL && status == 0) {
        for (int f = 0; f < WET_N_FIELDS; f++) {
            PyObject *value = fields[f];
            if (value == NULL) { /* absent: "", and None for WARC-Type (not WET's test) */
                value = f == WET_N_FIELDS - 1 ? Py_None : EMPTY;
                Py_INCREF(value);
            }
            fields[f] = NULL;
            PyTuple_SET_ITEM(result, f, value);
        }
        PyTuple_SET_ITEM(result, WET_N_FIELDS, text);
        text = NULL;
    }
    for (int f = 0; f < WET_N_FIELDS; f++) {
        Py_XDECREF(fields[f]);
    }
    Py_XDECREF(text);
    return result;
}

/* ---- end S1: wet reader ---- */

/* ---- S2: dedup ---- */
/* punkt_at_least: filters.sentences.SentenceSplitter._at_least_py (punkt's span_tokenize, stopped
 * after n sentences), compiled. NLTK's steps, in its own order (nltk/tokenize/punkt.py):
 *
 *   _match_potential_end_contexts  every [.?!] followed by a NonWord character or by \s+\S+
 *                                  (regex's \s: str.isspace but U+001C..U+001F), the word
 *                                  before it (back to the last string.whitespace character,
 *                                  with NLTK's index-0 quirk), runs of marks collapsed;
 *   _slices_from_text              a break when text_contains_sentbreak(context): called back
 *                                  (``decide``) unless the context is plain
 *                                  (filters.sentences._plain_sentbreak, the same set lookups);
 *   _realign_boundaries            closing quotes and brackets moved to the sentence before
 *                                  (re_boundary_realignment), empty sentences skipped.
 *
 * tests/filters/test_sentences_native.py pins the patterns it implements and compares it with
 * the pure path on every real line, page and context, and on a fuzz. */

#define REGEX_SPACE(ch) (Py_UNICODE_ISSPACE(ch) && !((ch) >= 0x1C && (ch) <= 0x1F))
#define ASCII_ALPHA(ch) ((((ch) | 0x20) >= 'a') && (((ch) | 0x20) <= 'z'))

/* period_context_re's NonWord: )";}]*:@'({[ and curly quotes, guillemets, ! and ?. */
static ALWAYS_INLINE int
punkt_nonword(Py_UCS4 ch)
{
    switch (ch) {
    case ')': case '"': case ';': case '}': case ']': case '*': case ':': case '@': case '\'':
    case '(': case '{': case '[': case 0x2018: case 0x2019: case 0x201C: case 0x201D:
    case 0xAB: case 0xBB: case '!': case '?':
        return 1;
    default:
        return 0;
    }
}

/* re_boundary_realignment's closing characters. */
static ALWAYS_INLINE int
punkt_closer(Py_UCS4 ch)
{
    switch (ch) {
    case '"': case '\'': case ')': case ']': case '}': case 0x2018: case 0x2019: case 0x201C:
    case 0x201D: case 0xAB: case 0xBB:
        return 1;
    default:
        return 0;
    }
}

/* string.whitespace: what _get_last_whitespace_index looks for. */
#define ASCII_WHITESPACE(ch) \
    ((ch) == ' ' || (ch) == '\t' || (ch) == '\n' || (ch) == '\r' || (ch) == 0x0B || (ch) == 0x0C)

typedef struct {
    PyObject *text;
    PyObject *decide;       /* context -> bool: the tokenizer's text_contains_sentbreak */
    PyObject *abbrev_types; /* set of str */
    PyObject *collocation_firsts; /* frozenset of str: the collocations' first types */
    PyObject *collocations; /* set of (str, str) */
    Py_ssize_t n;           /* sentences wanted */
    Py_ssize_t count;       /* sentences yielded so far */
    int have_s1;            /* a raw slice waits for its successor (_pair_iter) */
    Py_ssize_t s1_start, s1_stop, realign;
} PunktScan;

/* text[start:end].lower(): by hand for ASCII letters (ascii), else str.lower itself. */
static PyObject *
punkt_lower(PyObject *text, int kind, const void *data, Py_ssize_t start, Py_ssize_t end,
            int ascii)
{
    if (!ascii) {
        PyObject *word = PyUnicode_Substring(text, start, end);
        PyObject *lower = word == NULL ? NULL : PyObject_CallMethodNoArgs(word, STR_LOWER);
        Py_XDECREF(word);
        return lower;
    }
    PyObject *out = PyUnicode_New(end - start, 127);
    if (out == NULL) {
        return NULL;
    }
    Py_UCS1 *dst = PyUnicode_1BYTE_DATA(out);
    for (Py_ssize_t i = start; i < end; i++) {
        dst[i - start] = (Py_UCS1)(READ(kind, data, i) | 0x20);
    }
    return out;
}

/* Whether text[start:end].isalpha(); *ascii: whether it is all ASCII too. */
static ALWAYS_INLINE int
punkt_isalpha(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, int *ascii)
{
    int all_ascii = 1;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 ch = READ(kind, data, i);
        if (ch < 128) {
            if (!ASCII_ALPHA(ch)) {
                return 0;
            }
        }
        else if (!Py_UNICODE_ISALPHA(ch)) {
            return 0;
        }
        else {
            all_ascii = 0;
        }
    }
    *ascii = all_ascii;
    return start < end;
}

/* filters.sentences._plain_sentbreak: 1 or 0 decided, -1 left to ``decide``, -2 error. The
 * context is word = text[ws:mark], the mark, spaces text[mark+1:next] (regex's \s, as the scan
 * found them), following = text[next:end] (regex's \S, which _PLAIN_CONTEXT's \S+ matches
 * unless it holds U+001C..U+001F). */
static ALWAYS_INLINE int
plain_break(PunktScan *scan, int kind, const void *data, Py_ssize_t ws, Py_ssize_t mark,
            Py_ssize_t next, Py_ssize_t end)
{
    int word_ascii, following_ascii = 1, following_alpha = 1;
    if (next < 0 || !punkt_isalpha(kind, data, ws, mark, &word_ascii)) {
        return -1;
    }
    for (Py_ssize_t i = next; i < end; i++) {
        Py_UCS4 ch = READ(kind, data, i);
        if (ch < 128) {
            if (Py_UNICODE_ISSPACE(ch)) {
                return -1;
            }
            following_alpha &= ASCII_ALPHA(ch);
        }
        else {
            following_ascii = 0;
            following_alpha &= Py_UNICODE_ISALPHA(ch) != 0;
        }
    }
    if (READ(kind, data, mark) != '.') {
        return 1;
    }
    if (mark - ws < 2) { /* an initial */
        return -1;
    }
    PyObject *typ = punkt_lower(scan->text, kind, data, ws, mark, word_ascii);
    if (typ == NULL) {
        return -2;
    }
    int found = PySet_Contains(scan->abbrev_types, typ);
    if (found != 0) {
        Py_DECREF(typ);
        return found < 0 ? -2 : -1;
    }
    found = PySet_Contains(scan->collocation_firsts, typ);
    if (found <= 0 || !following_alpha) {
        Py_DECREF(typ);
        return found < 0 ? -2 : found == 0 ? 1 : -1;
    }
    PyObject *following = punkt_lower(scan->text, kind, data, next, end, following_ascii);
    if (following == NULL) {
        Py_DECREF(typ);
        return -2;
    }
    PyObject *pair = PyTuple_Pack(2, typ, following);
    Py_DECREF(typ);
    Py_DECREF(following);
    if (pair == NULL) {
        return -2;
    }
    found = PySet_Contains(scan->collocations, pair);
    Py_DECREF(pair);
    return found < 0 ? -2 : !found;
}

/* re_boundary_realignment.match(text[start:stop]): the match's end (relative), its length
 * without trailing whitespace in *kept; -1: no match. */
static ALWAYS_INLINE Py_ssize_t
realign_match(int kind, const void *data, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t *kept)
{
    Py_ssize_t p = start;
    while (p < stop && punkt_closer(READ(kind, data, p))) {
        p++; /* lazy +?: try each alternative after every closer */
        if (p < stop && REGEX_SPACE(READ(kind, data, p))) {
            Py_ssize_t q = p;
            while (q < stop && REGEX_SPACE(READ(kind, data, q))) {
                q++;
            }
            *kept = p - start;
            return q - start;
        }
        if ((p + 1 < stop && READ(kind, data, p) == '-' && READ(kind, data, p + 1) == '-') ||
            p == stop) {
            *kept = p - start;
            return p - start;
        }
    }
    return -1;
}

/* One raw slice of _slices_from_text, through _realign_boundaries (pair by pair); returns 1
 * once n sentences were yielded. stop < 0: the end of the slices. */
static ALWAYS_INLINE int
punkt_slice(PunktScan *scan, int kind, const void *data, Py_ssize_t start, Py_ssize_t stop,
            int last)
{
    if (!scan->have_s1) {
        scan->have_s1 = 1;
    }
    else {
        Py_ssize_t s1 = scan->s1_start + scan->realign;
        Py_ssize_t kept = 0;
        Py_ssize_t m = realign_match(kind, data, start, stop, &kept);
        if (m >= 0) {
            scan->count++; /* yielded even when empty */
            scan->realign = m;
        }
        else {
            scan->realign = 0;
            if (s1 < scan->s1_stop) {
                scan->count++;
            }
        }
        if (scan->count >= scan->n) {
            return 1;
        }
    }
    scan->s1_start = start;
    scan->s1_stop = stop;
    if (last) { /* (last slice, None) */
        if (scan->s1_start + scan->realign < scan->s1_stop) {
            scan->count++;
        }
    }
    return scan->count >= scan->n;
}

/* A potential end context from _match_potential_end_contexts: the word starts at ws, the mark
 * is at mark, the after token ends at end, the next token starts at next (-1: none). Returns 1
 * once n sentences were yielded, -1 on error. */
static ALWAYS_INLINE int
punkt_context(PunktScan *scan, int kind, const void *data, Py_ssize_t *last_break, Py_ssize_t ws,
              Py_ssize_t mark, Py_ssize_t next, Py_ssize_t end)
{
    int brk = plain_break(scan, kind, data, ws, mark, next, end);
    if (brk == -2) {
        return -1;
    }
    if (brk == -1) {
        PyObject *context = PyUnicode_Substring(scan->text, ws, end);
        if (context == NULL) {
            return -1;
        }
        PyObject *answer = PyObject_CallOneArg(scan->decide, context);
        Py_DECREF(context);
        if (answer == NULL) {
            return -1;
        }
        brk = PyObject_IsTrue(answer);
        Py_DECREF(answer);
        if (brk < 0) {
            return -1;
        }
    }
    if (!brk) {
        return 0;
    }
    int done = punkt_slice(scan, kind, data, *last_break, mark + 1, 0);
    *last_break = next >= 0 ? next : mark + 1;
    return done;
}

static ALWAYS_INLINE int
punkt_scan(PunktScan *scan, int kind)
{
    const void *data = PyUnicode_DATA(scan->text);
    const Py_ssize_t len = PyUnicode_GET_LENGTH(scan->text);
    Py_ssize_t last_break = 0;
    /* The previous match: its word slice, mark, after token end, next token start. */
    int have_prev = 0;
    Py_ssize_t prev_ws = 0, prev_stop = 0, prev_end = 0, prev_next = -1;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 ch = READ(kind, data, i);
        if (ch != '.' && ch != '?' && ch != '!') {
            continue;
        }
        if (i + 1 >= len) {
            break;
        }
        Py_UCS4 after = READ(kind, data, i + 1);
        Py_ssize_t end, next = -1;
        if (punkt_nonword(after)) {
            end = i + 2;
        }
        else if (REGEX_SPACE(after)) {
            Py_ssize_t j = i + 2;
            while (j < len && REGEX_SPACE(READ(kind, data, j))) {
                j++;
            }
            if (j >= len) {
                continue;
            }
            next = j;
            end = j + 1;
            while (end < len && !REGEX_SPACE(READ(kind, data, end))) {
                end++;
            }
        }
        else {
            continue;
        }
        /* _get_last_whitespace_index(text[prev_stop:i]): 0 when none (or at index 0). */
        Py_ssize_t idx = 0;
        for (Py_ssize_t k = i - 1; k > prev_stop; k--) {
            if (ASCII_WHITESPACE(READ(kind, data, k))) {
                idx = k - prev_stop;
                break;
            }
        }
        Py_ssize_t ws = idx ? prev_stop + idx + 1 : prev_ws;
        if (have_prev && prev_stop <= ws) {
            int done = punkt_context(scan, kind, data, &last_break, prev_ws, prev_stop, prev_next,
                                     prev_end);
            if (done) {
                return done;
            }
        }
        have_prev = 1;
        prev_ws = ws;
        prev_stop = i;
        prev_end = end;
        prev_next = next;
    }
    if (have_prev) {
        int done =
            punkt_context(scan, kind, data, &last_break, prev_ws, prev_stop, prev_next, prev_end);
        if (done) {
            return done;
        }
    }
    Py_ssize_t stop = len;
    while (stop > 0 && Py_UNICODE_ISSPACE(READ(kind, data, stop - 1))) {
        stop--;
    }
    return punkt_slice(scan, kind, data, last_break, stop, 1);
}

static PyObject *
punkt_at_least(PyObject *Py_UNUSED(module), PyObject *args)
{
    PunktScan scan = {0};
    if (!PyArg_ParseTuple(args, "UnOO!O!O!:punkt_at_least", &scan.text, &scan.n, &scan.decide,
                          &PySet_Type, &scan.abbrev_types, &PyFrozenSet_Type,
                          &scan.collocation_firsts, &PySet_Type, &scan.collocations)) {
        return NULL;
    }
    if (scan.n < 0) { /* as itertools.islice says it */
        PyErr_SetString(PyExc_ValueError, "Stop argument for islice() must be None or an "
                                          "integer: 0 <= x <= sys.maxsize.");
        return NULL;
    }
    if (scan.n == 0) {
        Py_RETURN_TRUE;
    }
    int status;
    switch (PyUnicode_KIND(scan.text)) {
    case PyUnicode_1BYTE_KIND:
        status = punkt_scan(&scan, PyUnicode_1BYTE_KIND);
        break;
    case PyUnicode_2BYTE_KIND:
        status = punkt_scan(&scan, PyUnicode_2BYTE_KIND);
        break;
    default:
        status = punkt_scan(&scan, PyUnicode_4BYTE_KIND);
    }
    if (status < 0) {
        return NULL;
    }
    return PyBool_FromLong(scan.count >= scan.n);
}
/* ---- end S2: dedup ---- */

/* ------------------------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------------------------ */
/* langdetect: langdetect 1.0.9's detect_langs(text) with seed 0, exactly (filters/langid.py)  */
/* ------------------------------------------------------------------------------------------ */
/* The specification is langdetect itself (detector.py, utils/ngram.py), run as TFDS runs it:
 * a Detector per call, seed 0, the 55 profiles in sorted order. Every step is reproduced as
 * Python computes it: the three regex substitutions of Detector.append (leftmost, greedy, with
 * Python's backtracking), the 10,000-character cut, cleaning_text (whose "Latin Extended
 * Additional" test compares a block number with a string, so it never holds: every character
 * from U+0300 counts as non-Latin), NGram's normalization and capital-word rule (str.isupper is
 * Py_UNICODE_ISUPPER), CPython's Mersenne Twister, random.choice (_randbelow with getrandbits),
 * random.gauss (with its cached second value), and the same double operations in the same
 * order: the builtin sum of Python 3.11 adds left to right. The profile table (filters/data/
 * langdetect/) is built from langdetect's own files; probabilities are count / n_words as
 * Python divides them. gcc must not contract a*b+c into an FMA: setup.py passes
 * -ffp-contract=off. */

#define LD_CAPSULE "filters._native.langdetect_model"
#define LD_MAX_LANGS 64
#define LD_MAX_TEXT 10000
#define LD_N_TRIAL 7
#define LD_MT_N 624
#define LD_MT_M 397
#define LD_CJK_FIRST 0x4E00
#define LD_CJK_LAST 0x9FFF
#define LD_MAX_VI 64
#define LD_MAX_DMARK 8
/* After NGram.normalize, an ASCII character is a space or a letter: 53 symbols (ld_ascii), in
 * rows of 64 so that the n-grams of lowercase letters and spaces sit close together */
#define LD_ASCII 64

typedef struct {
    uint64_t key;
    uint32_t word;
} LdSlot;

typedef struct {
    int n_langs;
    PyObject *langs[LD_MAX_LANGS];
    uint32_t n_words;
    uint32_t mask;          /* hash table size - 1 */
    LdSlot *slots;          /* key 0: empty (no n-gram packs to 0: NUL normalizes to a space) */
    uint64_t *word_key;     /* n_words: each word's packed characters, first lowest */
    int32_t *ascii3;        /* the words of ASCII letters and spaces, indexed directly: 64**3 */
    int32_t ascii2[LD_ASCII * LD_ASCII], ascii1[LD_ASCII]; /* (-1: not a word) */
    uint32_t *pair_start;   /* n_words + 1 */
    uint8_t *pair_lang;
    double *pair_prob;
    Py_UCS4 cjk[LD_CJK_LAST - LD_CJK_FIRST + 1];
    Py_UCS4 latin1_excluded[16];
    int n_latin1_excluded;
    Py_UCS4 vi_from[LD_MAX_VI];
    int n_vi_from;
    Py_UCS4 vi_dmark[LD_MAX_DMARK];
    int n_vi_dmark;
    Py_UCS4 vi_to[LD_MAX_DMARK][LD_MAX_VI];
    uint32_t mt_first[LD_MT_N]; /* random.Random(0)'s state after its first twist */
} LdModel;

static void
ld_model_free_parts(LdModel *m)
{
    for (int i = 0; i < m->n_langs; i++) {
        Py_CLEAR(m->langs[i]);
    }
    PyMem_Free(m->slots);
    PyMem_Free(m->word_key);
    PyMem_Free(m->ascii3);
    PyMem_Free(m->pair_start);
    PyMem_Free(m->pair_lang);
    PyMem_Free(m->pair_prob);
    PyMem_Free(m);
}

static void
ld_model_free(PyObject *capsule)
{
    LdModel *m = PyCapsule_GetPointer(capsule, LD_CAPSULE);
    if (m != NULL) {
        ld_model_free_parts(m);
    }
}

/* A normalized ASCII character's symbol: space 0, a-z 1-26, A-Z 27-52; -1 for anything else */
static ALWAYS_INLINE int
ld_ascii(Py_UCS4 c)
{
    if (c == ' ') {
        return 0;
    }
    if (c >= 'a' && c <= 'z') {
        return (int)(c - 'a') + 1;
    }
    if (c >= 'A' && c <= 'Z') {
        return (int)(c - 'A') + 27;
    }
    return -1;
}

static ALWAYS_INLINE uint32_t
ld_slot(uint64_t key, uint32_t mask)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

/* A little-endian reader over the model bytes, with bounds checks. */
typedef struct {
    const unsigned char *p, *end;
    int bad;
} LdReader;

static uint64_t
ld_read(LdReader *r, int size)
{
    uint64_t v = 0;
    if (r->end - r->p < size) {
        r->bad = 1;
        return 0;
    }
    for (int i = 0; i < size; i++) {
        v |= (uint64_t)r->p[i] << (8 * i);
    }
    r->p += size;
    return v;
}

static void
mt_twist(uint32_t *mt)
{
    static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
    int kk;
    uint32_t y;
    for (kk = 0; kk < LD_MT_N - LD_MT_M; kk++) {
        y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
        mt[kk] = mt[kk + LD_MT_M] ^ (y >> 1) ^ mag01[y & 0x1u];
    }
    for (; kk < LD_MT_N - 1; kk++) {
        y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
        mt[kk] = mt[kk + (LD_MT_M - LD_MT_N)] ^ (y >> 1) ^ mag01[y & 0x1u];
    }
    y = (mt[LD_MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
    mt[LD_MT_N - 1] = mt[LD_MT_M - 1] ^ (y >> 1) ^ mag01[y & 0x1u];
}

/* langdetect_model(data, mt_state): data is filters/langid.py's table (uncompressed), mt_state
 * the 624 words of random.Random(0).getstate()[1] (index 624: a twist comes first). */
static PyObject *
langdetect_model(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data;
    PyObject *state;
    if (!PyArg_ParseTuple(args, "y*O:langdetect_model", &data, &state)) {
        return NULL;
    }
    LdModel *m = PyMem_Calloc(1, sizeof(LdModel));
    if (m == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    PyObject *capsule = NULL, *words = PySequence_Fast(state, "mt_state: a sequence of 624 int");
    if (words == NULL) {
        goto done;
    }
    if (PySequence_Fast_GET_SIZE(words) != LD_MT_N) {
        PyErr_SetString(PyExc_ValueError, "mt_state: 624 words expected");
        goto done;
    }
    for (int i = 0; i < LD_MT_N; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(words, i));
        if (v == (unsigned long)-1 && PyErr_Occurred()) {
            goto done;
        }
        m->mt_first[i] = (uint32_t)v;
    }
    mt_twist(m->mt_first);

    LdReader r = {data.buf, (const unsigned char *)data.buf + data.len, 0};
    if (data.len < 8 || memcmp(data.buf, "C4LD0001", 8) != 0) {
        PyErr_SetString(PyExc_ValueError, "not a langdetect table (C4LD0001)");
        goto done;
    }
    r.p += 8;
    int n_langs = (int)ld_read(&r, 4);
    if (r.bad || n_langs < 1 || n_langs > LD_MAX_LANGS) {
        goto corrupt;
    }
    for (int i = 0; i < n_langs; i++) {
        int len = (int)ld_read(&r, 1);
        if (r.bad || r.end - r.p < len) {
            goto corrupt;
        }
        m->langs[i] = PyUnicode_DecodeASCII((const char *)r.p, len, "strict");
        if (m->langs[i] == NULL) {
            goto done;
        }
        PyUnicode_InternInPlace(&m->langs[i]);
        m->n_langs = i + 1;
        r.p += len;
    }
    double n_words[LD_MAX_LANGS][3];
    for (int i = 0; i < n_langs; i++) {
        for (int k = 0; k < 3; k++) {
            n_words[i][k] = (double)ld_read(&r, 8); /* < 2**53: exact, as Python converts */
        }
    }
    uint32_t nw = (uint32_t)ld_read(&r, 4);
    if (r.bad || nw == 0 || (uint64_t)(r.end - r.p) < (uint64_t)nw * 12 + 4) {
        goto corrupt;
    }
    m->n_words = nw;
    uint32_t size = 1;
    while (size < 2 * nw) {
        size <<= 1;
    }
    m->mask = size - 1;
    m->slots = PyMem_Calloc(size, sizeof(LdSlot));
    m->pair_start = PyMem_Malloc(((size_t)nw + 1) * sizeof(uint32_t));
    m->word_key = PyMem_Malloc((size_t)nw * sizeof(uint64_t));
    m->ascii3 = PyMem_Malloc((size_t)LD_ASCII * LD_ASCII * LD_ASCII * sizeof(int32_t));
    if (!m->slots || !m->pair_start || !m->word_key || !m->ascii3) {
        PyErr_NoMemory();
        goto done;
    }
    memset(m->ascii1, 0xff, sizeof(m->ascii1));
    memset(m->ascii2, 0xff, sizeof(m->ascii2));
    memset(m->ascii3, 0xff, (size_t)LD_ASCII * LD_ASCII * LD_ASCII * sizeof(int32_t));
    const unsigned char *keys = r.p;
    r.p += (size_t)nw * 8;
    for (uint32_t w = 0; w <= nw; w++) {
        m->pair_start[w] = (uint32_t)ld_read(&r, 4);
        if (w > 0 && m->pair_start[w] < m->pair_start[w - 1]) {
            r.bad = 1;
        }
    }
    uint32_t np = m->pair_start[nw];
    if (r.bad || m->pair_start[0] != 0 || (uint64_t)(r.end - r.p) < (uint64_t)np * 5) {
        goto corrupt;
    }
    m->pair_lang = PyMem_Malloc(np ? np : 1);
    m->pair_prob = PyMem_Malloc((np ? np : 1) * sizeof(double));
    if (!m->pair_lang || !m->pair_prob) {
        PyErr_NoMemory();
        goto done;
    }
    const unsigned char *langs = r.p, *counts = r.p + np;
    r.p += (size_t)np * 5;
    for (uint32_t w = 0; w < nw; w++) {
        LdReader kr = {keys + (size_t)w * 8, keys + (size_t)w * 8 + 8, 0};
        uint64_t key = ld_read(&kr, 8);
        int len = (key >> 42) ? 3 : (key >> 21) ? 2 : 1;
        if (key == 0) {
            goto corrupt;
        }
        uint32_t s = ld_slot(key, m->mask);
        while (m->slots[s].key != 0) {
            if (m->slots[s].key == key) {
                goto corrupt; /* a key twice */
            }
            s = (s + 1) & m->mask;
        }
        m->slots[s].key = key;
        m->slots[s].word = w;
        m->word_key[w] = key;
        int a0 = ld_ascii(key & 0x1FFFFF), a1 = ld_ascii((key >> 21) & 0x1FFFFF);
        int a2 = ld_ascii(key >> 42);
        if (len == 1 && a0 >= 0) {
            m->ascii1[a0] = (int32_t)w;
        }
        else if (len == 2 && a0 >= 0 && a1 >= 0) {
            m->ascii2[a0 * LD_ASCII + a1] = (int32_t)w;
        }
        else if (len == 3 && a0 >= 0 && a1 >= 0 && a2 >= 0) {
            m->ascii3[(a0 * LD_ASCII + a1) * LD_ASCII + a2] = (int32_t)w;
        }
        for (uint32_t p = m->pair_start[w]; p < m->pair_start[w + 1]; p++) {
            int lang = langs[p];
            LdReader cr = {counts + (size_t)p * 4, counts + (size_t)p * 4 + 4, 0};
            double count = (double)ld_read(&cr, 4);
            if (lang >= n_langs || (p > m->pair_start[w] && lang <= m->pair_lang[p - 1])) {
                goto corrupt;
            }
            m->pair_lang[p] = (uint8_t)lang;
            /* add_profile: prob = 1.0 * count / n_words[len(word) - 1] */
            m->pair_prob[p] = count / n_words[lang][len - 1];
        }
    }
    for (int i = 0; i <= LD_CJK_LAST - LD_CJK_FIRST; i++) {
        m->cjk[i] = (Py_UCS4)(LD_CJK_FIRST + i);
    }
    uint32_t n_cjk = (uint32_t)ld_read(&r, 4);
    for (uint32_t i = 0; i < n_cjk && !r.bad; i++) {
        uint32_t from = (uint32_t)ld_read(&r, 4), to = (uint32_t)ld_read(&r, 4);
        if (from < LD_CJK_FIRST || from > LD_CJK_LAST || to > 0x10FFFF) {
            goto corrupt;
        }
        m->cjk[from - LD_CJK_FIRST] = to;
    }
    m->n_latin1_excluded = (int)ld_read(&r, 4);
    if (m->n_latin1_excluded > 16) {
        goto corrupt;
    }
    for (int i = 0; i < m->n_latin1_excluded; i++) {
        m->latin1_excluded[i] = (Py_UCS4)ld_read(&r, 4);
    }
    m->n_vi_from = (int)ld_read(&r, 4);
    if (m->n_vi_from > LD_MAX_VI) {
        goto corrupt;
    }
    for (int i = 0; i < m->n_vi_from; i++) {
        m->vi_from[i] = (Py_UCS4)ld_read(&r, 4);
    }
    m->n_vi_dmark = (int)ld_read(&r, 4);
    if (m->n_vi_dmark > LD_MAX_DMARK) {
        goto corrupt;
    }
    for (int i = 0; i < m->n_vi_dmark; i++) {
        m->vi_dmark[i] = (Py_UCS4)ld_read(&r, 4);
    }
    for (int d = 0; d < m->n_vi_dmark; d++) {
        for (int i = 0; i < m->n_vi_from; i++) {
            m->vi_to[d][i] = (Py_UCS4)ld_read(&r, 4);
        }
    }
    if (r.bad || r.p != r.end) {
        goto corrupt;
    }
    capsule = PyCapsule_New(m, LD_CAPSULE, ld_model_free);
    goto done;
corrupt:
    PyErr_SetString(PyExc_ValueError, "corrupt langdetect table");
done:
    Py_XDECREF(words);
    PyBuffer_Release(&data);
    if (capsule == NULL) {
        ld_model_free_parts(m);
    }
    return capsule;
}

/* --- Detector.append: URL_RE, MAIL_RE and normalize_vi substitutions, the 10,000 cut ------ */

static ALWAYS_INLINE int
ld_alnum(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* URL_RE's class [-_.?&~;+=/#0-9A-Za-z] */
static ALWAYS_INLINE int
ld_url_char(Py_UCS4 c)
{
    return ld_alnum(c) || c == '-' || c == '_' || c == '.' || c == '?' || c == '&' ||
           c == '~' || c == ';' || c == '+' || c == '=' || c == '/' || c == '#';
}

/* MAIL_RE's [-_.0-9A-Za-z] (a) and [-_0-9A-Za-z] (b) */
static ALWAYS_INLINE int
ld_mail_a(Py_UCS4 c)
{
    return ld_alnum(c) || c == '-' || c == '_' || c == '.';
}

static ALWAYS_INLINE int
ld_mail_b(Py_UCS4 c)
{
    return ld_alnum(c) || c == '-' || c == '_';
}

/* URL_RE.sub(' ', s): https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076}, in place; returns the length */
static Py_ssize_t
ld_sub_url(Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        Py_UCS4 c = s[i];
        if (c == 'h' && n - i >= 8 && s[i + 1] == 't' && s[i + 2] == 't' && s[i + 3] == 'p') {
            Py_ssize_t b = -1, j = i + 4;
            if (s[j] == 's' && n - j >= 5 && s[j + 1] == ':' && s[j + 2] == '/' &&
                s[j + 3] == '/' && ld_url_char(s[j + 4])) {
                b = j + 4;
            }
            else if (s[j] == ':' && s[j + 1] == '/' && s[j + 2] == '/' && ld_url_char(s[j + 3])) {
                b = j + 3;
            }
            if (b >= 0) {
                Py_ssize_t e = b;
                while (e < n && e - b < 2076 && ld_url_char(s[e])) {
                    e++;
                }
                s[o++] = ' ';
                i = e;
                continue;
            }
        }
        s[o++] = c;
        i++;
    }
    return o;
}

/* MAIL_RE.sub(' ', s): [-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255}. The
 * first part cannot hold '@', so a match's '@' is the first one after its start: trying each
 * '@' in turn with the earliest start before it is trying starts left to right. */
static Py_ssize_t
ld_sub_mail(Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t r = 0, o = 0; /* r: where the search resumes; s[o..) is written behind it */
    Py_ssize_t q = 0;
    while (q < n) {
        if (s[q] != '@') {
            q++;
            continue;
        }
        Py_ssize_t start = q;
        while (start > r && q - start < 64 && ld_mail_a(s[start - 1])) {
            start--;
        }
        Py_ssize_t end = -1;
        if (start < q) {
            Py_ssize_t j = q + 1, nb = 0;
            while (j + nb < n && nb < 256 && ld_mail_b(s[j + nb])) {
                nb++;
            }
            Py_ssize_t b = nb < 255 ? nb : 255;
            if (b > 0) {
                Py_ssize_t na = 0;
                while (j + b + na < n && na < 255 && ld_mail_a(s[j + b + na])) {
                    na++;
                }
                if (na > 0) {
                    end = j + b + na;
                }
                else if (b >= 2) {
                    end = j + b; /* the b part gives its last character back to the a part */
                }
            }
        }
        if (end < 0) {
            q++;
            continue;
        }
        while (r < start) {
            s[o++] = s[r++];
        }
        s[o++] = ' ';
        r = q = end;
    }
    while (r < n) {
        s[o++] = s[r++];
    }
    return o;
}

/* NGram.normalize_vi: ([TO_NORMALIZE_VI_CHARS])([DMARK_CLASS]) -> NORMALIZED_VI_CHARS */
static Py_ssize_t
ld_sub_vi(const LdModel *m, Py_UCS4 *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        Py_UCS4 c = s[i];
        if (i + 1 < n && s[i + 1] >= 0x300 && s[i + 1] <= 0x36F) {
            int a = -1, d = -1;
            for (int k = 0; k < m->n_vi_from; k++) {
                if (m->vi_from[k] == c) {
                    a = k;
                    break;
                }
            }
            for (int k = 0; k < m->n_vi_dmark && a >= 0; k++) {
                if (m->vi_dmark[k] == s[i + 1]) {
                    d = k;
                    break;
                }
            }
            if (a >= 0 && d >= 0) {
                s[o++] = m->vi_to[d][a];
                i += 2;
                continue;
            }
        }
        s[o++] = c;
        i++;
    }
    return o;
}

/* The cut and space collapse of append() over s[0..n), then cleaning_text(), into out (at least
 * LD_MAX_TEXT long); returns the prepared length. */
#define LD_APPEND(TYPE, SRC)                                                                     \
    do {                                                                                       \
        const TYPE *src = (const TYPE *)(SRC);                                                 \
        Py_UCS4 pre = 0;                                                                       \
        for (Py_ssize_t i = 0; i < limit; i++) {                                               \
            Py_UCS4 c = src[i];                                                                \
            if (c != ' ' || pre != ' ') {                                                      \
                out[o++] = c;                                                                  \
                latin += (c >= 'A' && c <= 'z');                                               \
                non_latin += (c >= 0x300);                                                     \
            }                                                                                  \
            pre = c;                                                                           \
        }                                                                                      \
    } while (0)

static Py_ssize_t
ld_append(int kind, const void *data, Py_ssize_t n, Py_UCS4 *out)
{
    Py_ssize_t limit = n < LD_MAX_TEXT ? n : LD_MAX_TEXT, o = 0, latin = 0, non_latin = 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        LD_APPEND(Py_UCS1, data);
    }
    else if (kind == PyUnicode_2BYTE_KIND) {
        LD_APPEND(Py_UCS2, data);
    }
    else {
        LD_APPEND(Py_UCS4, data);
    }
    /* cleaning_text: its test unicode_block(ch) != 'Latin Extended Additional' compares a block
     * number with a string, so every character from U+0300 counts as non-Latin */
    if (latin * 2 < non_latin) {
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < o; i++) {
            if (out[i] < 'A' || out[i] > 'z') {
                out[k++] = out[i];
            }
        }
        o = k;
    }
    return o;
}

/* Whether one of the three substitutions of append() can match: "://", '@' or a combining
 * mark (U+0300-U+036F, where DMARK_CLASS lies) */
static int
ld_may_substitute(int kind, const void *data, Py_ssize_t n)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        const unsigned char *p = data, *end = p + n;
        if (memchr(p, '@', (size_t)n) != NULL) {
            return 1;
        }
        while ((p = memchr(p, ':', (size_t)(end - p))) != NULL) {
            if (end - p >= 3 && p[1] == '/' && p[2] == '/') {
                return 1;
            }
            p++;
        }
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '@' || (c >= 0x300 && c <= 0x36F) ||
            (c == ':' && i + 2 < n && PyUnicode_READ(kind, data, i + 1) == '/' &&
             PyUnicode_READ(kind, data, i + 2) == '/')) {
            return 1;
        }
    }
    return 0;
}

/* NGram.normalize */
static ALWAYS_INLINE Py_UCS4
ld_normalize(const LdModel *m, Py_UCS4 c)
{
    if (c <= 0x7F) {
        return (c < 'A' || (c > 'Z' && c < 'a') || c > 'z') ? ' ' : c;
    }
    if (c <= 0xFF) {
        for (int i = 0; i < m->n_latin1_excluded; i++) {
            if (m->latin1_excluded[i] == c) {
                return ' ';
            }
        }
        return c;
    }
    if (c >= 0x180 && c <= 0x24F) {
        return c == 0x219 ? 0x15F : c == 0x21B ? 0x163 : c;
    }
    if (c >= 0x2000 && c <= 0x206F) {
        return ' ';
    }
    if (c >= 0x600 && c <= 0x6FF) {
        return c == 0x6CC ? 0x64A : c;
    }
    if (c >= 0x1E00 && c <= 0x1EFF) {
        return c >= 0x1EA0 ? 0x1EC3 : c;
    }
    if (c >= 0x3040 && c <= 0x309F) {
        return 0x3042;
    }
    if (c >= 0x30A0 && c <= 0x30FF) {
        return 0x30A2;
    }
    if ((c >= 0x3100 && c <= 0x312F) || (c >= 0x31A0 && c <= 0x31BF)) {
        return 0x3105;
    }
    if (c >= LD_CJK_FIRST && c <= LD_CJK_LAST) {
        return m->cjk[c - LD_CJK_FIRST];
    }
    if (c >= 0xAC00 && c <= 0xD7AF) {
        return 0xAC00;
    }
    return c;
}

static ALWAYS_INLINE int64_t
ld_lookup(const LdModel *m, uint64_t key)
{
    uint32_t s = ld_slot(key, m->mask);
    for (;;) {
        uint64_t k = m->slots[s].key;
        if (k == key) {
            return m->slots[s].word;
        }
        if (k == 0) {
            return -1;
        }
        s = (s + 1) & m->mask;
    }
}

/* str.isupper of one character */
static ALWAYS_INLINE int
ld_isupper(Py_UCS4 c)
{
    return c < 128 ? (c >= 'A' && c <= 'Z') : Py_UNICODE_ISUPPER(c);
}

/* _extract_ngrams: the word index of every n-gram found, in order. g holds NGram.grams (1-3
 * characters), a their ld_ascii symbols: n-grams of ASCII symbols are looked up directly. */
static Py_ssize_t
ld_ngrams(const LdModel *m, const Py_UCS4 *s, Py_ssize_t n, uint32_t *out)
{
    Py_UCS4 g[3] = {' ', 0, 0};
    int a[3] = {0, -1, -1};
    int gl = 1, capital = 0;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = ld_normalize(m, s[i]);
        Py_UCS4 last = g[gl - 1];
        int added = 1;
        if (last == ' ') {
            g[0] = ' ';
            a[0] = 0;
            gl = 1;
            capital = 0;
            if (c == ' ') {
                added = 0;
            }
        }
        else if (gl >= 3) {
            g[0] = g[1];
            g[1] = g[2];
            a[0] = a[1];
            a[1] = a[2];
            gl = 2;
        }
        if (added) {
            a[gl] = ld_ascii(c);
            g[gl++] = c;
            if (ld_isupper(c)) {
                if (ld_isupper(last)) {
                    capital = 1;
                }
            }
            else {
                capital = 0;
            }
        }
        if (capital) {
            continue;
        }
        /* n = 1 (not a lone space), 2, 3: the last n characters */
        int32_t w;
        if (g[gl - 1] != ' ') {
            w = a[gl - 1] >= 0 ? m->ascii1[a[gl - 1]] : (int32_t)ld_lookup(m, g[gl - 1]);
            if (w >= 0) {
                out[count++] = (uint32_t)w;
            }
        }
        if (gl >= 2) {
            if (a[gl - 2] >= 0 && a[gl - 1] >= 0) {
                w = m->ascii2[a[gl - 2] * LD_ASCII + a[gl - 1]];
            }
            else {
                w = (int32_t)ld_lookup(m, g[gl - 2] | ((uint64_t)g[gl - 1] << 21));
            }
            if (w >= 0) {
                out[count++] = (uint32_t)w;
            }
        }
        if (gl == 3) {
            if (a[0] >= 0 && a[1] >= 0 && a[2] >= 0) {
                w = m->ascii3[(a[0] * LD_ASCII + a[1]) * LD_ASCII + a[2]];
            }
            else {
                w = (int32_t)ld_lookup(
                    m, g[0] | ((uint64_t)g[1] << 21) | ((uint64_t)g[2] << 42));
            }
            if (w >= 0) {
                out[count++] = (uint32_t)w;
            }
        }
    }
    return count;
}

/* --- random.Random(0): genrand_uint32, random(), gauss(), _randbelow --------------------- */

typedef struct {
    const LdModel *m;
    uint32_t mt[LD_MT_N];
    const uint32_t *state; /* the model's first block until the next twist, then mt */
    int index;
    int has_gauss_next;
    double gauss_next;
} LdRandom;

static ALWAYS_INLINE uint32_t
ld_temper(uint32_t y)
{
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

static ALWAYS_INLINE uint32_t
ld_genrand(LdRandom *r)
{
    if (r->index >= LD_MT_N) {
        if (r->state != r->mt) {
            memcpy(r->mt, r->state, sizeof(r->mt));
            r->state = r->mt;
        }
        mt_twist(r->mt);
        r->index = 0;
    }
    return ld_temper(r->state[r->index++]);
}

/* The word the draw `ahead` places from now would pick if it is accepted (-1: not known without
 * a twist, or out of range): its data is fetched into the cache before it is needed. */
static ALWAYS_INLINE int64_t
ld_peek(const LdRandom *r, const uint32_t *ngrams, uint32_t count, int shift, int ahead)
{
    if (r->index + ahead >= LD_MT_N) {
        return -1;
    }
    uint32_t v = ld_temper(r->state[r->index + ahead]) >> shift;
    return v < count ? (int64_t)ngrams[v] : -1;
}

static double
ld_random(LdRandom *r)
{
    uint32_t a = ld_genrand(r) >> 5;
    uint32_t b = ld_genrand(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* Python 3.11's Random.gauss(0.0, 1.0) */
static double
ld_gauss(LdRandom *r)
{
    if (r->has_gauss_next) {
        r->has_gauss_next = 0;
        return 0.0 + r->gauss_next * 1.0;
    }
    double x2pi = ld_random(r) * (2.0 * 3.141592653589793);
    double g2rad = sqrt(-2.0 * log(1.0 - ld_random(r)));
    /* Two reads of a volatile: gcc may not fuse cos and sin into one sincos call. */
    volatile double angle = x2pi;
    double z = cos(angle) * g2rad;
    r->gauss_next = sin(angle) * g2rad;
    r->has_gauss_next = 1;
    return 0.0 + z * 1.0;
}

/* Random._randbelow_with_getrandbits(n), n >= 1 */
static ALWAYS_INLINE uint32_t
ld_randbelow(LdRandom *r, uint32_t n)
{
    int k = 32 - __builtin_clz(n);
    uint32_t v = ld_genrand(r) >> (32 - k);
    while (v >= n) {
        v = ld_genrand(r) >> (32 - k);
    }
    return v;
}

/* Detector._detect_block after the n-grams: 7 trials from seed 0, the averaged probabilities */
static void
ld_trials(const LdModel *m, const uint32_t *ngrams, uint32_t count, double *langprob)
{
    const int L = m->n_langs;
    LdRandom r;
    r.m = m;
    r.state = m->mt_first;
    r.index = 0;
    r.has_gauss_next = 0;
    r.gauss_next = 0.0;
    for (int j = 0; j < L; j++) {
        langprob[j] = 0.0;
    }
    double prob[LD_MAX_LANGS], factor[LD_MAX_LANGS];
    const int shift = 32 - (32 - __builtin_clz(count)); /* _randbelow's getrandbits(k) */
    for (int t = 0; t < LD_N_TRIAL; t++) {
        for (int j = 0; j < L; j++) {
            prob[j] = 1.0 / L;
        }
        double alpha = 0.5 + ld_gauss(&r) * 0.05;
        double weight = alpha / 10000;
        for (int i = 0;; i++) {
            uint32_t w = ngrams[ld_randbelow(&r, count)];
            /* the next word's pairs, and the one after's offsets, while this one is applied */
            int64_t next = ld_peek(&r, ngrams, count, shift, 0);
            if (next >= 0) {
                const uint32_t start = m->pair_start[next];
                __builtin_prefetch(&m->pair_lang[start]);
                __builtin_prefetch(&m->pair_prob[start]);
                __builtin_prefetch(&m->pair_prob[start] + 8);
            }
            int64_t after = ld_peek(&r, ngrams, count, shift, 1);
            if (after >= 0) {
                __builtin_prefetch(&m->pair_start[after]);
            }
            /* prob[j] *= weight + p[j], where p[j] is 0.0 for a language without the word (and
             * weight + 0.0 is weight) */
            for (int j = 0; j < L; j++) {
                factor[j] = weight;
            }
            for (uint32_t p = m->pair_start[w]; p < m->pair_start[w + 1]; p++) {
                factor[m->pair_lang[p]] = weight + m->pair_prob[p];
            }
            for (int j = 0; j < L; j++) {
                prob[j] *= factor[j];
            }
            if (i % 5 == 0) {
                /* _normalize_prob: sum() adds left to right (Python 3.11) */
                double sump = 0.0, maxp = 0.0;
                for (int j = 0; j < L; j++) {
                    sump += prob[j];
                }
                for (int j = 0; j < L; j++) {
                    prob[j] = prob[j] / sump;
                }
                for (int j = 0; j < L; j++) {
                    if (maxp < prob[j]) {
                        maxp = prob[j];
                    }
                }
                if (maxp > 0.99999 || i >= 1000) {
                    break;
                }
            }
        }
        for (int j = 0; j < L; j++) {
            langprob[j] += prob[j] / LD_N_TRIAL;
        }
    }
}

static LdModel *
ld_model_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, LD_CAPSULE);
}

/* The text prepared (append + cleaning_text) as UCS4; NULL with an exception set */
static Py_UCS4 *
ld_text(const LdModel *m, PyObject *text, Py_ssize_t *n)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "langdetect takes a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    Py_UCS4 *out = PyMem_Malloc((size_t)LD_MAX_TEXT * sizeof(Py_UCS4));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (!ld_may_substitute(kind, data, len)) {
        *n = ld_append(kind, data, len, out);
        return out;
    }
    /* URL_RE, MAIL_RE and normalize_vi run over the whole text, as append() runs them */
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(text);
    if (s == NULL) {
        PyMem_Free(out);
        return NULL;
    }
    len = ld_sub_url(s, len);
    len = ld_sub_mail(s, len);
    len = ld_sub_vi(m, s, len);
    *n = ld_append(PyUnicode_4BYTE_KIND, s, len, out);
    PyMem_Free(s);
    return out;
}

/* What both entry points do first: parse (model, text), prepare the text and extract its
 * n-grams. 0, with *s and *ngrams for the caller to free; -1 with an exception set. */
static int
ld_begin(PyObject *args, const char *format, const LdModel **m, Py_UCS4 **s, Py_ssize_t *n,
         uint32_t **ngrams, Py_ssize_t *count)
{
    PyObject *capsule, *text;
    if (!PyArg_ParseTuple(args, format, &capsule, &text)) {
        return -1;
    }
    *m = ld_model_of(capsule);
    if (*m == NULL) {
        return -1;
    }
    *s = ld_text(*m, text, n);
    if (*s == NULL) {
        return -1;
    }
    *ngrams = PyMem_Malloc(((size_t)*n * 3 + 1) * sizeof(uint32_t));
    if (*ngrams == NULL) {
        PyMem_Free(*s);
        PyErr_NoMemory();
        return -1;
    }
    *count = ld_ngrams(*m, *s, *n, *ngrams);
    return 0;
}

/* langdetect(model, text) -> [(lang, prob), ...] best first, or None: "No features in text." */
static PyObject *
langdetect(PyObject *Py_UNUSED(module), PyObject *args)
{
    const LdModel *m;
    Py_UCS4 *s;
    Py_ssize_t n, count;
    uint32_t *ngrams;
    if (ld_begin(args, "OU:langdetect", &m, &s, &n, &ngrams, &count) < 0) {
        return NULL;
    }
    PyMem_Free(s);
    if (count == 0) {
        PyMem_Free(ngrams);
        Py_RETURN_NONE;
    }
    double langprob[LD_MAX_LANGS];
    Py_BEGIN_ALLOW_THREADS
    ld_trials(m, ngrams, (uint32_t)count, langprob);
    Py_END_ALLOW_THREADS
    PyMem_Free(ngrams);
    /* _sort_probability: p > 0.1, in language order, then a stable sort, highest first */
    int order[LD_MAX_LANGS], k = 0;
    for (int j = 0; j < m->n_langs; j++) {
        if (langprob[j] > 0.1) {
            int at = k;
            while (at > 0 && langprob[order[at - 1]] < langprob[j]) {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = j;
            k++;
        }
    }
    PyObject *result = PyList_New(k);
    for (int i = 0; result != NULL && i < k; i++) {
        PyObject *pair = Py_BuildValue("(Od)", m->langs[order[i]], langprob[order[i]]);
        if (pair == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, pair);
    }
    return result;
}

/* langdetect_ngrams(model, text) -> (prepared text, [n-gram, ...]): the steps before the
 * trials, for the tests (Detector.append + cleaning_text, then _extract_ngrams) */
static PyObject *
langdetect_ngrams(PyObject *Py_UNUSED(module), PyObject *args)
{
    const LdModel *m;
    Py_UCS4 *s;
    Py_ssize_t n, count;
    uint32_t *ngrams;
    if (ld_begin(args, "OU:langdetect_ngrams", &m, &s, &n, &ngrams, &count) < 0) {
        return NULL;
    }
    PyObject *prepared = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    PyObject *words = NULL, *result = NULL;
    if (prepared == NULL) {
        goto done;
    }
    words = PyList_New(count);
    for (Py_ssize_t i = 0; words != NULL && i < count; i++) {
        /* the word's key back to its characters */
        uint64_t key = m->word_key[ngrams[i]];
        Py_UCS4 chars[3];
        int len = 0;
        while (key != 0) {
            chars[len++] = (Py_UCS4)(key & 0x1FFFFF);
            key >>= 21;
        }
        PyObject *w = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, chars, len);
        if (w == NULL) {
            Py_CLEAR(words);
            break;
        }
        PyList_SET_ITEM(words, i, w);
    }
    if (words != NULL) {
        result = PyTuple_Pack(2, prepared, words);
    }
done:
    PyMem_Free(s);
    PyMem_Free(ngrams);
    Py_XDECREF(prepared);
    Py_XDECREF(words);
    return result;
}

/* langdetect_normalize(model, text) -> str: NGram.normalize of every character, for the tests */
static PyObject *
langdetect_normalize(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *capsule, *text;
    if (!PyArg_ParseTuple(args, "OU:langdetect_normalize", &capsule, &text)) {
        return NULL;
    }
    const LdModel *m = ld_model_of(capsule);
    if (m == NULL) {
        return NULL;
    }
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(text);
    if (s == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        s[i] = ld_normalize(m, s[i]);
    }
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    PyMem_Free(s);
    return result;
}

static PyMethodDef native_methods[] = {
    {"clean_lines", clean_lines, METH_VARARGS,
     "clean_lines(text, max_word_length, badwords, citations) -> (kill, kept, too_long, "
     "no_endmark, too_short, javascript, policy): filters.clean._clean_lines, compiled."},
    {"split_wet_record", split_wet_record, METH_VARARGS,
     "split_wet_record(record, prefixes) -> (metadata, text): "
     "filters.wet._split_record_py, compiled."},
    {"line_hashes", line_hashes, METH_VARARGS,
     "line_hashes(text, bytes_rule) -> list of 16-byte md5 digests: "
     "filters.dedup._line_hashes_py, compiled."},
    {"word_list", word_list, METH_O,
     "word_list(words) -> a word list for has_word (filters.badwords.PageBadwords)."},
    {"has_word", has_word, METH_VARARGS,
     "has_word(word_list, text) -> whether re.compile(r'\\W(?:w1|...)(?:\\W|$)') finds a word in "
     "' ' + text.lower(): filters.badwords._has_word_py, compiled."},
    {"punkt_at_least", punkt_at_least, METH_VARARGS, /* S2: dedup */
     "punkt_at_least(text, n, decide, abbrev_types, collocation_firsts, collocations) -> "
     "whether punkt finds n "
     "sentences: filters.sentences.SentenceSplitter._at_least_py, compiled."},
    {"md5", md5, METH_O, "md5(data) -> hashlib.md5(data).digest() (tests the kernel's md5)."},
    {"wet_record", wet_record, METH_VARARGS, /* S1: wet reader */
     "wet_record(data, start, end) -> (url, date, content_type, content_length, record_id, "
     "digest, warc_type, text), or None where not UTF-8: filters.wet._fields_py, compiled."},
    {"langdetect_model", langdetect_model, METH_VARARGS, /* L: language */
     "langdetect_model(table, mt_state) -> model: langdetect's 55 profiles (filters/langid.py)."},
    {"langdetect", langdetect, METH_VARARGS,
     "langdetect(model, text) -> [(lang, prob), ...] or None: langdetect 1.0.9's detect_langs "
     "with seed 0, compiled (None: no features in text)."},
    {"langdetect_ngrams", langdetect_ngrams, METH_VARARGS,
     "langdetect_ngrams(model, text) -> (prepared text, n-grams): the steps before the trials."},
    {"langdetect_normalize", langdetect_normalize, METH_VARARGS,
     "langdetect_normalize(model, text) -> NGram.normalize of every character."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "filters._native",
    "C kernels of the C4 core's per-line loops; the pure-Python functions are their "
    "specification (filters/kernels.py).",
    -1, native_methods,
};

/* filters/kernels.py's NATIVE_API: raise both with any change to a kernel's signature or
 * meaning (a module built from an older source is then not used). */
#define NATIVE_API 4

PyMODINIT_FUNC
PyInit__native(void)
{
    KILL_LOREM = PyUnicode_InternFromString("filtered:loremipsum");
    KILL_SQUIGGLY = PyUnicode_InternFromString("filtered:squigglybracket");
    KILL_BADWORD = PyUnicode_InternFromString("filtered:badword");
    EMPTY = PyUnicode_InternFromString("");
    STR_LOWER = PyUnicode_InternFromString("lower");
    if (!KILL_LOREM || !KILL_SQUIGGLY || !KILL_BADWORD || !EMPTY || !STR_LOWER) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&native_module);
    if (module != NULL && PyModule_AddIntConstant(module, "API", NATIVE_API) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
