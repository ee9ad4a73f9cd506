// CTLS: a small, typed C surface over OpenSSL 3 for an HTTPS server.
//
// Swift cannot call OpenSSL's macro-only and variadic entry points (SSL_CTX_set_mode,
// SSL_CTX_set_min_proto_version, ERR_* formatting, ...), and building certificates
// through the X509 API is long-winded; this shim keeps all of that in one place.
//
// Conventions: functions that can fail take `char *err, size_t errlen` and write a
// one-line description (with OpenSSL's error queue) there. Strings returned through
// `char **` are allocated with malloc and released with `ctls_free`.
#pragma once
#include <stddef.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Results of the I/O calls below (the SSL_get_error value mapped to a small set).
enum {
    CTLS_OK = 0,
    CTLS_WANT_READ = 1,   ///< retry after the socket becomes readable
    CTLS_WANT_WRITE = 2,  ///< retry after the socket becomes writable
    CTLS_CLOSED = 3,      ///< the peer closed the TLS session (close_notify) or the TCP stream
    CTLS_ERROR = 4,       ///< fatal protocol or system error; see `err`
};

/// Certificate uses for `ctls_issue_certificate`.
enum {
    CTLS_USAGE_SERVER = 1,
    CTLS_USAGE_CLIENT = 2,
};

/// Creates a server SSL_CTX (TLS 1.2+, ALPN offering only "http/1.1") from PEM text.
/// `cert_chain_pem` holds the leaf followed by any intermediates. When `client_ca_pem`
/// is non-NULL and non-empty, client certificates are requested and, when presented,
/// verified against it (not required). Returns NULL on failure.
SSL_CTX *ctls_server_ctx_new(const char *cert_chain_pem, const char *key_pem,
                             const char *client_ca_pem, char *err, size_t errlen);
void ctls_ctx_free(SSL_CTX *ctx);

/// Wraps an accepted (non-blocking) socket in a server-side SSL. NULL on failure.
SSL *ctls_ssl_new(SSL_CTX *ctx, int fd, char *err, size_t errlen);
void ctls_ssl_free(SSL *ssl);

/// One step of the handshake: CTLS_OK when done, CTLS_WANT_* to retry, else an error.
int ctls_ssl_handshake(SSL *ssl, char *err, size_t errlen);
/// Reads up to `len` bytes. On CTLS_OK `*nread` holds the count (> 0).
int ctls_ssl_read(SSL *ssl, void *buf, int len, int *nread, char *err, size_t errlen);
/// Writes up to `len` bytes (partial writes allowed). On CTLS_OK `*nwritten` holds the count.
int ctls_ssl_write(SSL *ssl, const void *buf, int len, int *nwritten, char *err, size_t errlen);
/// Bytes already decrypted and buffered inside the SSL object.
int ctls_ssl_pending(const SSL *ssl);
/// Sends close_notify (one attempt, never blocks for the peer's answer).
void ctls_ssl_shutdown(SSL *ssl);

/// The verified client certificate's subject entries. `which` is 0 for CN, 1 for O.
/// Writes the values joined by '\n' into `buf` (NUL-terminated). Returns the number of
/// values, 0 when the certificate has none, and -1 when there is no verified peer
/// certificate (none presented, or verification failed).
int ctls_peer_subject_entries(SSL *ssl, int which, char *buf, size_t buflen);

/// Generates a self-signed CA (EC P-256, SHA-256) valid for `days` days.
/// On success returns 0 and sets `*cert_pem` and `*key_pem` (PKCS#8); -1 on failure.
int ctls_generate_ca(const char *common_name, int days, char **cert_pem, char **key_pem,
                     char *err, size_t errlen);

/// Issues a leaf certificate (EC P-256, SHA-256) signed by the CA.
/// `organizations`, `dns_names`, `ip_addresses` are '\n'-separated lists (may be empty).
/// `usage` is a bit set of CTLS_USAGE_*. Returns 0 on success, -1 on failure.
int ctls_issue_certificate(const char *ca_cert_pem, const char *ca_key_pem,
                           const char *common_name, const char *organizations,
                           const char *dns_names, const char *ip_addresses,
                           int usage, int days, char **cert_pem, char **key_pem,
                           char *err, size_t errlen);

/// Releases memory returned by this shim.
void ctls_free(void *p);

#ifdef __cplusplus
}
#endif
