/*
 * tern.h — Tern's own WebAssembly import module, "tern": shared state and chained calls for
 * functions written in C (or anything that links C imports) and built as WASI commands:
 *
 *   clang --target=wasm32-wasi -O2 -I path/to/examples/include -o main.wasm main.c
 *
 * Every function is synchronous for the guest. Keys are 1-250 characters of letters, digits and
 * . _ - : / @ + = (not starting with . / : @ + = -). Negative results are errors (TERN_E*);
 * tern_error() copies the message of the last one. See docs/state.md.
 *
 * State (this node's local tier, shared by every instance on the node):
 *   reads come straight from shared memory once this worker has seen the key; writes go to the
 *   node (one round trip). push/pull move a value to/from the global tier (Redis) when the node
 *   has one; without Redis, push makes the value durable on disk and pull is a no-op.
 * Locks: held by the call; released by tern_state_unlock or when the call ends, whatever way.
 *   global = 0: this node's lock; global = 1: the cluster-wide lock in Redis (the node's own
 *   lock when there is no Redis).
 * Chained calls: fn is "name", "name/path" or "name?query"; the child runs through the node's
 *   scheduler (warm, cold or on another node) with the body `in`; the result is its HTTP status
 *   (or a negative error) and its body, cut to out_cap bytes (*out_len gets the full length).
 */
#ifndef TERN_H
#define TERN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_IMPORT(name) __attribute__((import_module("tern"), import_name(name)))

#define TERN_ENOTFOUND (-1) /* no such key (or global value, for pull) */
#define TERN_EINVAL (-2)    /* bad key, offset, handle or pointer; unlock of a lock not held */
#define TERN_ETOOBIG (-3)   /* value over the node's [state] max-value */
#define TERN_EFULL (-4)     /* state store full ([state] max-keys / max-bytes); too many pending calls */
#define TERN_ELOCK (-5)     /* lock not acquired within [state] lock-wait */
#define TERN_EUNAVAIL (-6)  /* no state on this node, or the global tier (Redis) is down */
#define TERN_EFAILED (-7)   /* anything else: see tern_error() */

/* ---- the imports (keys and names as pointer + length) ---- */

/* Copy up to buf_len bytes of the value into buf; returns the value's whole length. */
TERN_IMPORT("state_get") int32_t tern_state_get(const char *key, uint32_t key_len, void *buf, uint32_t buf_len);
/* Copy up to buf_len bytes from offset; returns the bytes copied (0 at the end). */
TERN_IMPORT("state_read") int32_t tern_state_read(const char *key, uint32_t key_len, uint32_t offset, void *buf, uint32_t buf_len);
/* The value's length. */
TERN_IMPORT("state_size") int32_t tern_state_size(const char *key, uint32_t key_len);
/* Replace the value; returns its length. */
TERN_IMPORT("state_set") int32_t tern_state_set(const char *key, uint32_t key_len, const void *value, uint32_t value_len);
/* Overwrite at offset (offset <= length; the value grows past its end); returns the new length. */
TERN_IMPORT("state_write") int32_t tern_state_write(const char *key, uint32_t key_len, uint32_t offset, const void *value, uint32_t value_len);
/* Add to the end (creates the key); returns the new length. */
TERN_IMPORT("state_append") int32_t tern_state_append(const char *key, uint32_t key_len, const void *value, uint32_t value_len);
/* 1 when deleted, 0 when there was no such key. */
TERN_IMPORT("state_delete") int32_t tern_state_delete(const char *key, uint32_t key_len);
TERN_IMPORT("state_lock") int32_t tern_state_lock(const char *key, uint32_t key_len, uint32_t global);
TERN_IMPORT("state_unlock") int32_t tern_state_unlock(const char *key, uint32_t key_len, uint32_t global);
/* Local value -> global tier (an absent local value deletes the global one). */
TERN_IMPORT("state_push") int32_t tern_state_push(const char *key, uint32_t key_len);
/* Global value -> local tier; returns its length, or TERN_ENOTFOUND (the local value is deleted). */
TERN_IMPORT("state_pull") int32_t tern_state_pull(const char *key, uint32_t key_len);

/* Call a function and wait: returns its HTTP status. */
TERN_IMPORT("call") int32_t tern_call(const char *fn, uint32_t fn_len, const void *in, uint32_t in_len, void *out, uint32_t out_cap, uint32_t *out_len);
/* Start a call: returns a handle (> 0) for tern_await. */
TERN_IMPORT("call_async") int32_t tern_call_async(const char *fn, uint32_t fn_len, const void *in, uint32_t in_len);
/* Wait for a started call: returns its HTTP status (the handle is then spent). */
TERN_IMPORT("await") int32_t tern_await(int32_t handle, void *out, uint32_t out_cap, uint32_t *out_len);
/* The message of the last error (cut to buf_len); returns its length. */
TERN_IMPORT("error") int32_t tern_error(char *buf, uint32_t buf_len);

/* ---- conveniences with NUL-terminated keys and names ---- */

static inline int32_t tern_get(const char *key, void *buf, uint32_t cap) { return tern_state_get(key, (uint32_t)strlen(key), buf, cap); }
static inline int32_t tern_read(const char *key, uint32_t offset, void *buf, uint32_t cap) { return tern_state_read(key, (uint32_t)strlen(key), offset, buf, cap); }
static inline int32_t tern_size(const char *key) { return tern_state_size(key, (uint32_t)strlen(key)); }
static inline int32_t tern_set(const char *key, const void *value, uint32_t len) { return tern_state_set(key, (uint32_t)strlen(key), value, len); }
static inline int32_t tern_set_string(const char *key, const char *value) { return tern_set(key, value, (uint32_t)strlen(value)); }
static inline int32_t tern_write(const char *key, uint32_t offset, const void *value, uint32_t len) { return tern_state_write(key, (uint32_t)strlen(key), offset, value, len); }
static inline int32_t tern_append(const char *key, const void *value, uint32_t len) { return tern_state_append(key, (uint32_t)strlen(key), value, len); }
static inline int32_t tern_delete(const char *key) { return tern_state_delete(key, (uint32_t)strlen(key)); }
static inline int32_t tern_lock(const char *key) { return tern_state_lock(key, (uint32_t)strlen(key), 0); }
static inline int32_t tern_unlock(const char *key) { return tern_state_unlock(key, (uint32_t)strlen(key), 0); }
static inline int32_t tern_lock_global(const char *key) { return tern_state_lock(key, (uint32_t)strlen(key), 1); }
static inline int32_t tern_unlock_global(const char *key) { return tern_state_unlock(key, (uint32_t)strlen(key), 1); }
static inline int32_t tern_push(const char *key) { return tern_state_push(key, (uint32_t)strlen(key)); }
static inline int32_t tern_pull(const char *key) { return tern_state_pull(key, (uint32_t)strlen(key)); }

/*
 * The whole value in a fresh malloc'd buffer with a NUL after it (free it); NULL when absent or
 * on error (*len_out then holds the error). Retries when the value grows between size and copy.
 */
static inline char *tern_get_alloc(const char *key, int32_t *len_out) {
  int32_t size = tern_size(key);
  for (int attempt = 0; size >= 0 && attempt < 8; attempt++) {
    char *buf = (char *)malloc((size_t)size + 1);
    if (!buf) break;
    int32_t got = tern_get(key, buf, (uint32_t)size);
    if (got >= 0 && got <= size) {
      buf[got] = 0;
      if (len_out) *len_out = got;
      return buf;
    }
    free(buf);
    size = got;
  }
  if (len_out) *len_out = size < 0 ? size : TERN_EFAILED;
  return NULL;
}

static inline int32_t tern_chain(const char *fn, const void *in, uint32_t in_len, void *out, uint32_t out_cap, uint32_t *out_len) {
  return tern_call(fn, (uint32_t)strlen(fn), in, in_len, out, out_cap, out_len);
}

static inline int32_t tern_chain_async(const char *fn, const void *in, uint32_t in_len) { return tern_call_async(fn, (uint32_t)strlen(fn), in, in_len); }

/* The last error's message (a static buffer, overwritten by the next call). */
static inline const char *tern_strerror(void) {
  static char message[512];
  int32_t n = tern_error(message, sizeof message - 1);
  message[n < 0 ? 0 : (n > (int32_t)sizeof message - 1 ? (int32_t)sizeof message - 1 : n)] = 0;
  return message;
}

#ifdef __cplusplus
}
#endif

#endif /* TERN_H */
