/* ustr.c - Python str semantics over UTF-8 (see ustr.h). Character classes follow CPython's
 * unicodeobject.c definitions, with utf8proc supplying Unicode categories and case maps. */
#include "template/ustr.h"

#include <string.h>
#include <utf8proc.h>

size_t u8_decode(const char *str, size_t len, size_t i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > len) {
        *cp = c;
        return 1;
    }
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xc0) != 0x80) {
            *cp = c;
            return 1;
        }
        v = (v << 6) | (s[i + k] & 0x3f);
    }
    *cp = v;
    return n;
}

void u8_append(mlcc_strbuf *sb, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    sb_append_n(sb, b, n);
}

size_t u8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) n++;
    return n;
}

size_t u8_offset(const char *s, size_t len, size_t cpi) {
    size_t i = 0;
    uint32_t cp;
    while (cpi > 0 && i < len) {
        i += u8_decode(s, len, i, &cp);
        cpi--;
    }
    return i;
}

int u8_valid(const char *s, size_t len) {
    utf8proc_int32_t cp;
    size_t i = 0;
    while (i < len) {
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) return 0;
        i += (size_t)n;
    }
    return 1;
}

int py_isspace(uint32_t c) {
    if (c < 128) return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

int py_islinebreak(uint32_t c) {
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
           c == 0x85 || c == 0x2028 || c == 0x2029;
}

static int category(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c); }

int py_isalpha(uint32_t c) {
    int k = category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

int py_isdigit(uint32_t c) { return category(c) == UTF8PROC_CATEGORY_ND; }

int py_isalnum(uint32_t c) {
    int k = category(c);
    return py_isalpha(c) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_NO;
}

int py_iscased(uint32_t c) {
    int k = category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return 1;
    return (uint32_t)utf8proc_toupper((utf8proc_int32_t)c) != c ||
           (uint32_t)utf8proc_tolower((utf8proc_int32_t)c) != c;
}

int py_islower_cp(uint32_t c) {
    return category(c) == UTF8PROC_CATEGORY_LL ||
           ((uint32_t)utf8proc_toupper((utf8proc_int32_t)c) != c && category(c) != UTF8PROC_CATEGORY_LT);
}

int py_isupper_cp(uint32_t c) {
    return category(c) == UTF8PROC_CATEGORY_LU ||
           ((uint32_t)utf8proc_tolower((utf8proc_int32_t)c) != c && category(c) != UTF8PROC_CATEGORY_LT);
}

/* Full (one-to-many) upper/title mappings that Python applies and utf8proc's simple maps lack,
 * for the common cases. */
static int special_upper(mlcc_strbuf *sb, uint32_t c, int title) {
    if (c == 0xdf) {
        sb_append(sb, title ? "Ss" : "SS");
        return 1;
    }
    return 0;
}

static void put_upper(mlcc_strbuf *sb, uint32_t c) {
    if (!special_upper(sb, c, 0)) u8_append(sb, (uint32_t)utf8proc_toupper((utf8proc_int32_t)c));
}
static void put_title(mlcc_strbuf *sb, uint32_t c) {
    if (!special_upper(sb, c, 1)) u8_append(sb, (uint32_t)utf8proc_totitle((utf8proc_int32_t)c));
}
static void put_lower(mlcc_strbuf *sb, uint32_t c) {
    u8_append(sb, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
}

void py_case(mlcc_strbuf *sb, const char *s, size_t len, py_case_op op) {
    size_t i = 0;
    int prev_cased = 0, first = 1;
    while (i < len) {
        uint32_t c;
        i += u8_decode(s, len, i, &c);
        if (c < 128 && op != CASE_TITLE && op != CASE_CAPITALIZE) {
            /* ASCII fast path */
            char ch = (char)c;
            if (op == CASE_UPPER && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
            else if (op == CASE_LOWER && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            else if (op == CASE_SWAP && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
            else if (op == CASE_SWAP && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            sb_append_char(sb, ch);
            continue;
        }
        switch (op) {
        case CASE_UPPER: put_upper(sb, c); break;
        case CASE_LOWER: put_lower(sb, c); break;
        case CASE_SWAP:
            if (py_isupper_cp(c)) put_lower(sb, c);
            else if (py_islower_cp(c)) put_upper(sb, c);
            else u8_append(sb, c);
            break;
        case CASE_TITLE:
            if (prev_cased) put_lower(sb, c);
            else put_title(sb, c);
            prev_cased = py_iscased(c);
            break;
        case CASE_CAPITALIZE:
            if (first) put_title(sb, c);
            else put_lower(sb, c);
            break;
        }
        first = 0;
    }
}

static int in_chars(uint32_t c, const char *chars, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t d;
        i += u8_decode(chars, n, i, &d);
        if (d == c) return 1;
    }
    return 0;
}

static int strip_match(uint32_t c, const char *chars, size_t n) {
    return chars ? in_chars(c, chars, n) : py_isspace(c);
}

void py_strip(const char *s, size_t len, const char *chars, size_t chars_len, int left, int right,
              size_t *start, size_t *end) {
    size_t a = 0, b = len;
    if (left) {
        while (a < b) {
            uint32_t c;
            size_t n = u8_decode(s, len, a, &c);
            if (!strip_match(c, chars, chars_len)) break;
            a += n;
        }
    }
    if (right) {
        while (b > a) {
            size_t p = b - 1;
            while (p > a && ((unsigned char)s[p] & 0xc0) == 0x80) p--;
            uint32_t c;
            u8_decode(s, len, p, &c);
            if (!strip_match(c, chars, chars_len)) break;
            b = p;
        }
    }
    *start = a;
    *end = b;
}
