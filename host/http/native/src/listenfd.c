/*
 * listenfd: a second file descriptor for a listening socket (Linux, POSIX).
 *
 * Why native: libuv 1.45 and later (Node 20) accept one connection per event-loop iteration on a
 * listening handle (libuv pull request 3696), so a saturated server drains a burst of new
 * connections from the kernel's accept queue at the rate it iterates: seconds for a thousand. Each
 * duplicate of the descriptor is its own libuv handle, polled and accepted from on every
 * iteration, so N duplicates accept up to N connections per iteration from the one queue
 * (host/http/acceptors.ts). Node has no dup(2).
 *
 * dupfd(fd: number) -> number, the lowest free descriptor >= 3, close-on-exec; throws an Error with
 * .code = errno name. Written against the stable Node-API C interface only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <node_api.h>

static napi_value dupfd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, "EINVAL", "dupfd(fd) takes one file descriptor");
    return NULL;
  }
  int32_t fd = -1;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "fd must be a non-negative integer");
    return NULL;
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    int err = errno;
    napi_throw_error(env, err == EBADF ? "EBADF" : err == EMFILE ? "EMFILE" : "EDUPFD", strerror(err));
    return NULL;
  }
  napi_value out;
  napi_create_int32(env, copy, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "dupfd", NAPI_AUTO_LENGTH, dupfd, NULL, &fn);
  napi_set_named_property(env, exports, "dupfd", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
