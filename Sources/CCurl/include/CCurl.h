// CCurl: typed, non-variadic wrappers over libcurl for Swift.
//
// Swift cannot call C variadic functions (curl_easy_setopt, curl_easy_getinfo,
// curl_multi_setopt, curl_share_setopt), so each argument type gets its own
// small function here. Everything else in libcurl is called directly.
#pragma once
#include <curl/curl.h>
#include <stddef.h>

/// Callback signatures used by KubeClient (same as libcurl's, named for Swift).
typedef size_t (*ccurl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);
typedef int (*ccurl_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                       curl_off_t ultotal, curl_off_t ulnow);
typedef void (*ccurl_lock_callback)(CURL *handle, curl_lock_data data, curl_lock_access access, void *userptr);
typedef void (*ccurl_unlock_callback)(CURL *handle, curl_lock_data data, void *userptr);

// curl_easy_setopt
CURLcode ccurl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode ccurl_easy_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode ccurl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode ccurl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode ccurl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode ccurl_easy_setopt_share(CURL *handle, CURLSH *share);
/// Sets a blob option (CURLOPT_CAINFO_BLOB, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLKEY_BLOB);
/// libcurl copies the bytes (CURL_BLOB_COPY), so the caller's buffer may be freed afterwards.
CURLcode ccurl_easy_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length);
CURLcode ccurl_easy_setopt_write_function(CURL *handle, ccurl_data_callback callback, void *userdata);
CURLcode ccurl_easy_setopt_header_function(CURL *handle, ccurl_data_callback callback, void *userdata);
CURLcode ccurl_easy_setopt_read_function(CURL *handle, ccurl_data_callback callback, void *userdata);
CURLcode ccurl_easy_setopt_xferinfo_function(CURL *handle, ccurl_xferinfo_callback callback, void *userdata);
/// Sets CURLOPT_ERRORBUFFER; `buffer` must hold CURL_ERROR_SIZE bytes and outlive the transfer.
CURLcode ccurl_easy_setopt_error_buffer(CURL *handle, char *buffer);

// curl_easy_getinfo
CURLcode ccurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode ccurl_easy_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value);
CURLcode ccurl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);
CURLcode ccurl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);
CURLcode ccurl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);

// curl_multi_setopt
CURLMcode ccurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);

// curl_share_setopt
CURLSHcode ccurl_share_setopt_long(CURLSH *share, CURLSHoption option, long value);
CURLSHcode ccurl_share_setopt_lock(CURLSH *share, ccurl_lock_callback lock, ccurl_unlock_callback unlock, void *userptr);

/// The value a write callback returns to pause a transfer (CURL_WRITEFUNC_PAUSE).
size_t ccurl_writefunc_pause(void);
/// CURL_ERROR_SIZE.
size_t ccurl_error_size(void);
/// The message of a CURLMSG_DONE entry (Swift cannot read the union directly).
CURLcode ccurl_msg_result(const CURLMsg *message);
