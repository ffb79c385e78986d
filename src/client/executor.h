// A small fixed pool of worker threads running posted tasks in FIFO order per thread pick-up.
// The producer runs async attempts and user callbacks here, never on the network thread (a
// callback that sends synchronously must not stall the thread that reads responses).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace holdfast::client {

class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();  // stop()
  // Runs task on a worker; after stop() tasks run inline on the caller (nothing is dropped).
  void post(std::function<void()> task);
  // Runs every queued task, then joins the workers. Idempotent.
  void stop();

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace holdfast::client
