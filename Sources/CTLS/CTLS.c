// CTLS: see include/CTLS.h.
#define _GNU_SOURCE 1
#include "CTLS.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// ---------------------------------------------------------------------------
// Errors

/// Writes "<what>: <openssl error queue>" (or "<what>" when the queue is empty) and
/// clears the queue.
static void set_error(char *err, size_t errlen, const char *what) {
    if (err == NULL || errlen == 0) {
        ERR_clear_error();
        return;
    }
    size_t used = (size_t)snprintf(err, errlen, "%s", what);
    unsigned long code;
    int first = 1;
    while ((code = ERR_get_error()) != 0) {
        if (used + 4 >= errlen) continue;  // drain the queue even when out of room
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        int n = snprintf(err + used, errlen - used, "%s%s", first ? ": " : "; ", buf);
        if (n > 0) used += (size_t)n;
        if (used >= errlen) used = errlen - 1;
        first = 0;
    }
}

// ---------------------------------------------------------------------------
// Context

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "http/1.1";
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int len = in[i];
        if (i + 1 + len > inlen) break;
        if (len == 8 && memcmp(in + i + 1, http11, 8) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)len;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    // The client did not offer http/1.1: continue without ALPN (it will speak HTTP/1.1 or fail).
    return SSL_TLSEXT_ERR_NOACK;
}

/// Accepts a missing client certificate; a presented one must verify.
static int verify_optional(int preverify_ok, X509_STORE_CTX *ctx) {
    (void)ctx;
    return preverify_ok;
}

static BIO *mem_bio(const char *pem) {
    return BIO_new_mem_buf(pem, -1);
}

SSL_CTX *ctls_server_ctx_new(const char *cert_chain_pem, const char *key_pem,
                             const char *client_ca_pem, char *err, size_t errlen) {
    ERR_clear_error();
    if (cert_chain_pem == NULL || key_pem == NULL) {
        set_error(err, errlen, "certificate chain and private key are required");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        set_error(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    static const unsigned char sid_ctx[] = "automagic";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

    // Certificate chain: the first PEM block is the leaf, the rest are extra chain certs.
    BIO *bio = mem_bio(cert_chain_pem);
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (leaf == NULL) {
        set_error(err, errlen, "failed to parse certificate chain PEM");
        BIO_free(bio);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
        set_error(err, errlen, "failed to use certificate");
        X509_free(leaf);
        BIO_free(bio);
        SSL_CTX_free(ctx);
        return NULL;
    }
    X509_free(leaf);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {  // takes ownership on success
            X509_free(extra);
            set_error(err, errlen, "failed to add chain certificate");
            BIO_free(bio);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    ERR_clear_error();  // the loop ends with a "no start line" error
    BIO_free(bio);

    bio = mem_bio(key_pem);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key == NULL) {
        set_error(err, errlen, "failed to parse private key PEM");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        set_error(err, errlen, "private key does not match certificate");
        EVP_PKEY_free(key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    EVP_PKEY_free(key);

    if (client_ca_pem != NULL && client_ca_pem[0] != '\0') {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        bio = mem_bio(client_ca_pem);
        int count = 0;
        X509 *ca;
        while (bio && (ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            X509_STORE_add_cert(store, ca);
            X509_NAME *name = X509_NAME_dup(X509_get_subject_name(ca));
            if (name && names) sk_X509_NAME_push(names, name);
            X509_free(ca);
            count++;
        }
        ERR_clear_error();
        BIO_free(bio);
        if (count == 0) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            set_error(err, errlen, "failed to parse client CA PEM: no certificate found");
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_optional);
        SSL_CTX_set_verify_depth(ctx, 8);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

void ctls_ctx_free(SSL_CTX *ctx) {
    SSL_CTX_free(ctx);
}

// ---------------------------------------------------------------------------
// Connections

SSL *ctls_ssl_new(SSL_CTX *ctx, int fd, char *err, size_t errlen) {
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        set_error(err, errlen, "SSL_new failed");
        return NULL;
    }
    if (SSL_set_fd(ssl, fd) != 1) {
        set_error(err, errlen, "SSL_set_fd failed");
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void ctls_ssl_free(SSL *ssl) {
    SSL_free(ssl);
}

static int map_result(SSL *ssl, int ret, const char *what, char *err, size_t errlen) {
    int code = SSL_get_error(ssl, ret);
    switch (code) {
    case SSL_ERROR_WANT_READ:
        return CTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return CTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return CTLS_CLOSED;
    case SSL_ERROR_SYSCALL: {
        int saved = errno;
        if (ERR_peek_error() == 0) {
            // EOF without close_notify, or a socket error.
            if (saved == 0 || saved == ECONNRESET || saved == EPIPE) {
                ERR_clear_error();
                return CTLS_CLOSED;
            }
            char buf[160];
            snprintf(buf, sizeof buf, "%s: %s", what, strerror(saved));
            set_error(err, errlen, buf);
            return CTLS_ERROR;
        }
        set_error(err, errlen, what);
        return CTLS_ERROR;
    }
    case SSL_ERROR_SSL: {
        // OpenSSL 3 reports an unexpected EOF as an SSL error; treat it as a close.
        unsigned long e = ERR_peek_error();
        if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return CTLS_CLOSED;
        }
        set_error(err, errlen, what);
        return CTLS_ERROR;
    }
    default:
        set_error(err, errlen, what);
        return CTLS_ERROR;
    }
}

int ctls_ssl_handshake(SSL *ssl, char *err, size_t errlen) {
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(ssl);
    if (ret == 1) return CTLS_OK;
    int r = map_result(ssl, ret, "TLS handshake failed", err, errlen);
    if (r == CTLS_CLOSED) {
        // A close during the handshake is a failure for the caller.
        if (err && errlen) snprintf(err, errlen, "TLS handshake failed: peer closed the connection");
        return CTLS_ERROR;
    }
    return r;
}

int ctls_ssl_read(SSL *ssl, void *buf, int len, int *nread, char *err, size_t errlen) {
    ERR_clear_error();
    errno = 0;
    *nread = 0;
    int ret = SSL_read(ssl, buf, len);
    if (ret > 0) {
        *nread = ret;
        return CTLS_OK;
    }
    return map_result(ssl, ret, "TLS read failed", err, errlen);
}

int ctls_ssl_write(SSL *ssl, const void *buf, int len, int *nwritten, char *err, size_t errlen) {
    ERR_clear_error();
    errno = 0;
    *nwritten = 0;
    if (len == 0) return CTLS_OK;
    int ret = SSL_write(ssl, buf, len);
    if (ret > 0) {
        *nwritten = ret;
        return CTLS_OK;
    }
    return map_result(ssl, ret, "TLS write failed", err, errlen);
}

int ctls_ssl_pending(const SSL *ssl) {
    return SSL_pending(ssl);
}

void ctls_ssl_shutdown(SSL *ssl) {
    ERR_clear_error();
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

int ctls_peer_subject_entries(SSL *ssl, int which, char *buf, size_t buflen) {
    if (buflen > 0) buf[0] = '\0';
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL) return -1;
    if (SSL_get_verify_result(ssl) != X509_V_OK) {
        X509_free(cert);
        return -1;
    }
    int nid = which == 0 ? NID_commonName : NID_organizationName;
    X509_NAME *subject = X509_get_subject_name(cert);
    int count = 0;
    size_t used = 0;
    int idx = -1;
    while ((idx = X509_NAME_get_index_by_NID(subject, nid, idx)) >= 0) {
        X509_NAME_ENTRY *entry = X509_NAME_get_entry(subject, idx);
        ASN1_STRING *data = X509_NAME_ENTRY_get_data(entry);
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, data);
        if (n < 0) continue;
        size_t need = (size_t)n + (count > 0 ? 1 : 0);
        if (used + need + 1 <= buflen) {
            if (count > 0) buf[used++] = '\n';
            memcpy(buf + used, utf8, (size_t)n);
            used += (size_t)n;
            buf[used] = '\0';
            count++;
        }
        OPENSSL_free(utf8);
    }
    X509_free(cert);
    return count;
}

// ---------------------------------------------------------------------------
// Certificate generation

static EVP_PKEY *new_ec_key(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static char *bio_to_string(BIO *bio) {
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len < 0) return NULL;
    char *out = malloc((size_t)len + 1);
    if (out == NULL) return NULL;
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    return out;
}

static char *cert_to_pem(X509 *cert) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    char *out = PEM_write_bio_X509(bio, cert) == 1 ? bio_to_string(bio) : NULL;
    BIO_free(bio);
    return out;
}

static char *key_to_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    char *out = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1
                    ? bio_to_string(bio)
                    : NULL;
    BIO_free(bio);
    return out;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1;
}

static int add_name_entries(X509_NAME *name, const char *field, const char *list) {
    if (list == NULL) return 1;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)p,
                                           (int)len, -1, 0) != 1)
                return 0;
        }
        if (end == NULL) break;
        p = end + 1;
    }
    return 1;
}

/// A new certificate for `key` with a random serial, validity [now-1h, now+days],
/// and subject CN (+ O entries). The issuer is set by the caller.
static X509 *new_cert(EVP_PKEY *key, const char *cn, const char *orgs, int days) {
    X509 *cert = X509_new();
    if (cert == NULL) return NULL;
    X509_set_version(cert, 2);
    unsigned char serial_bytes[16];
    if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) goto fail;
    serial_bytes[0] &= 0x7f;  // positive
    serial_bytes[0] |= 0x01;  // non-zero
    BIGNUM *bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, NULL);
    if (bn == NULL) goto fail;
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (serial == NULL) goto fail;
    X509_set_serialNumber(cert, serial);
    ASN1_INTEGER_free(serial);
    if (X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL) goto fail;
    if (X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL) goto fail;
    if (X509_set_pubkey(cert, key) != 1) goto fail;
    X509_NAME *name = X509_get_subject_name(cert);
    if (orgs && !add_name_entries(name, "O", orgs)) goto fail;
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1)
        goto fail;
    return cert;
fail:
    X509_free(cert);
    return NULL;
}

int ctls_generate_ca(const char *common_name, int days, char **cert_pem, char **key_pem,
                     char *err, size_t errlen) {
    ERR_clear_error();
    *cert_pem = NULL;
    *key_pem = NULL;
    EVP_PKEY *key = new_ec_key();
    if (key == NULL) {
        set_error(err, errlen, "failed to generate CA key");
        return -1;
    }
    X509 *cert = new_cert(key, common_name, NULL, days);
    if (cert == NULL) {
        set_error(err, errlen, "failed to build CA certificate");
        EVP_PKEY_free(key);
        return -1;
    }
    int ok = X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1 &&
             add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert, cert, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") &&
             add_ext(cert, cert, NID_subject_key_identifier, "hash") &&
             X509_sign(cert, key, EVP_sha256()) > 0;
    if (ok) {
        *cert_pem = cert_to_pem(cert);
        *key_pem = key_to_pem(key);
        ok = *cert_pem != NULL && *key_pem != NULL;
    }
    if (!ok) {
        set_error(err, errlen, "failed to sign CA certificate");
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = NULL;
        *key_pem = NULL;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/// Appends "PREFIX:item" for each '\n'-separated item of `list` to `out` (comma-joined).
static int append_san(char *out, size_t outlen, const char *prefix, const char *list) {
    if (list == NULL) return 1;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            size_t used = strlen(out);
            int n = snprintf(out + used, outlen - used, "%s%s:%.*s", used ? "," : "", prefix,
                             (int)len, p);
            if (n < 0 || (size_t)n >= outlen - used) return 0;
        }
        if (end == NULL) break;
        p = end + 1;
    }
    return 1;
}

int ctls_issue_certificate(const char *ca_cert_pem, const char *ca_key_pem,
                           const char *common_name, const char *organizations,
                           const char *dns_names, const char *ip_addresses,
                           int usage, int days, char **cert_pem, char **key_pem,
                           char *err, size_t errlen) {
    ERR_clear_error();
    *cert_pem = NULL;
    *key_pem = NULL;
    int result = -1;
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    char *san = NULL;

    BIO *bio = mem_bio(ca_cert_pem);
    ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (ca == NULL) {
        set_error(err, errlen, "failed to parse CA certificate PEM");
        goto done;
    }
    bio = mem_bio(ca_key_pem);
    ca_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (ca_key == NULL) {
        set_error(err, errlen, "failed to parse CA private key PEM");
        goto done;
    }
    if (X509_check_private_key(ca, ca_key) != 1) {
        set_error(err, errlen, "CA private key does not match CA certificate");
        goto done;
    }
    key = new_ec_key();
    if (key == NULL) {
        set_error(err, errlen, "failed to generate key");
        goto done;
    }
    cert = new_cert(key, common_name, organizations, days);
    if (cert == NULL) {
        set_error(err, errlen, "failed to build certificate subject");
        goto done;
    }
    if (X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1) {
        set_error(err, errlen, "failed to set issuer");
        goto done;
    }
    const char *eku = (usage & CTLS_USAGE_SERVER) && (usage & CTLS_USAGE_CLIENT)
                          ? "serverAuth,clientAuth"
                      : (usage & CTLS_USAGE_CLIENT) ? "clientAuth"
                                                    : "serverAuth";
    if (!add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(cert, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        !add_ext(cert, ca, NID_ext_key_usage, eku) ||
        !add_ext(cert, ca, NID_subject_key_identifier, "hash") ||
        !add_ext(cert, ca, NID_authority_key_identifier, "keyid:always")) {
        set_error(err, errlen, "failed to add certificate extensions");
        goto done;
    }
    size_t sanlen = 64 + (dns_names ? strlen(dns_names) * 2 + 64 : 0) +
                    (ip_addresses ? strlen(ip_addresses) * 2 + 64 : 0);
    san = calloc(1, sanlen);
    if (san == NULL) {
        set_error(err, errlen, "out of memory");
        goto done;
    }
    if (!append_san(san, sanlen, "DNS", dns_names) || !append_san(san, sanlen, "IP", ip_addresses)) {
        set_error(err, errlen, "subject alternative names too long");
        goto done;
    }
    if (san[0] != '\0' && !add_ext(cert, ca, NID_subject_alt_name, san)) {
        set_error(err, errlen, "failed to add subject alternative names");
        goto done;
    }
    if (X509_sign(cert, ca_key, EVP_sha256()) <= 0) {
        set_error(err, errlen, "failed to sign certificate");
        goto done;
    }
    *cert_pem = cert_to_pem(cert);
    *key_pem = key_to_pem(key);
    if (*cert_pem == NULL || *key_pem == NULL) {
        set_error(err, errlen, "failed to encode certificate PEM");
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = NULL;
        *key_pem = NULL;
        goto done;
    }
    result = 0;
done:
    free(san);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return result;
}

void ctls_free(void *p) {
    free(p);
}
