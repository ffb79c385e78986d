// holdfast-faultfs: mounts the power-loss simulating file system (`mount`) or sends one control
// command to a running one (`ctl`). See README.md.
#include <fuse.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "faultfs/control_server.h"
#include "faultfs/fault_fs.h"
#include "faultfs/fuse_operations.h"

namespace holdfast::faultfs {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitMountRefused = 77;  // the kernel or environment refused the FUSE mount

const char* kUsage =
    "usage:\n"
    "  holdfast-faultfs mount BACKING_DIR MOUNT_DIR --control SOCKET_PATH [--seed N] [--allow-other] [--debug]\n"
    "  holdfast-faultfs ctl SOCKET_PATH COMMAND...\n"
    "commands: status | power-loss [torn] | quota BYTES|off | eio write|fsync on|off [SUBSTRING]\n"
    "          | fsync-delay MS | heal\n";

struct MountOptions {
  std::string backing_dir;
  std::string mount_dir;
  std::string socket_path;
  uint64_t seed = 1;
  bool allow_other = false;
  bool debug = false;
};

bool parse_mount_options(int argc, char** argv, MountOptions* out) {
  std::vector<std::string> positional;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--control" && i + 1 < argc) {
      out->socket_path = argv[++i];
    } else if (arg == "--seed" && i + 1 < argc) {
      out->seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--allow-other") {
      out->allow_other = true;
    } else if (arg == "--debug") {
      out->debug = true;
    } else if (arg.rfind("--", 0) == 0) {
      return false;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2 || out->socket_path.empty()) return false;
  out->backing_dir = positional[0];
  out->mount_dir = positional[1];
  return true;
}

std::string absolute(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

// Every file with unsynced data and every journaled directory keeps an fd open.
void raise_fd_limit() {
  rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run_mount(const MountOptions& options) {
  raise_fd_limit();
  std::string error;
  // Never destroyed: detached control threads may still reach it while the process exits.
  FaultFs* fs = FaultFs::open(absolute(options.backing_dir), options.seed, &error).release();
  if (fs == nullptr) {
    std::fprintf(stderr, "holdfast-faultfs: %s\n", error.c_str());
    return 1;
  }
  static MountContext context;
  context.fs = fs;
  context.mount_dir = absolute(options.mount_dir);

  std::string mount_options = "fsname=holdfast-faultfs,subtype=faultfs";
  if (options.allow_other) mount_options += ",allow_other,default_permissions";
  std::vector<const char*> fuse_argv = {"holdfast-faultfs", "-o", mount_options.c_str()};
  if (options.debug) fuse_argv.push_back("-d");
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), const_cast<char**>(fuse_argv.data()));
  fuse_operations ops = make_fuse_operations();
  fuse* session = fuse_new(&args, &ops, sizeof(ops), &context);
  if (session == nullptr) {
    std::fprintf(stderr, "holdfast-faultfs: fuse_new failed\n");
    return 1;
  }
  if (fuse_mount(session, context.mount_dir.c_str()) != 0) {
    std::fprintf(stderr, "holdfast-faultfs: cannot mount %s (is /dev/fuse usable and mounting permitted?)\n",
                 context.mount_dir.c_str());
    fuse_destroy(session);
    return kExitMountRefused;
  }
  if (fuse_set_signal_handlers(fuse_get_session(session)) != 0) {
    fuse_unmount(session);
    fuse_destroy(session);
    return 1;
  }
  // A power loss ends the mount: the page cache still holds the undone data. SIGTERM to the
  // main thread runs libfuse's handler (session exit) and wakes fuse_loop_mt's wait.
  pthread_t main_thread = pthread_self();
  std::atomic<bool> powered_off{false};
  ControlServer control(fs, [&] {
    powered_off = true;
    pthread_kill(main_thread, SIGTERM);
  });
  if (std::string failure = control.start(options.socket_path); !failure.empty()) {
    std::fprintf(stderr, "holdfast-faultfs: %s\n", failure.c_str());
    fuse_remove_signal_handlers(fuse_get_session(session));
    fuse_unmount(session);
    fuse_destroy(session);
    return 1;
  }

  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(loop, 16);
  fuse_loop_mt(session, loop);
  fuse_loop_cfg_destroy(loop);

  fuse_remove_signal_handlers(fuse_get_session(session));
  control.stop();
  // A clean stop keeps every change, so pending unlinks become final.
  if (!powered_off) fs->discard_graveyard();
  fuse_unmount(session);
  fuse_destroy(session);
  return 0;
}

}  // namespace
}  // namespace holdfast::faultfs

int main(int argc, char** argv) {
  using namespace holdfast::faultfs;
  std::string verb = argc > 1 ? argv[1] : "";
  int status = kExitUsage;
  if (verb == "mount") {
    MountOptions options;
    if (!parse_mount_options(argc, argv, &options)) {
      std::fputs(kUsage, stderr);
      return kExitUsage;
    }
    status = run_mount(options);
  } else if (verb == "ctl" && argc >= 4) {
    std::string command;
    for (int i = 3; i < argc; ++i) command += (i > 3 ? " " : "") + std::string(argv[i]);
    status = run_control_client(argv[2], command);
  } else {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  // _exit: detached control threads may still be running; skip static destructors.
  std::fflush(nullptr);
  _exit(status);
}
