// A transactional producer in its own process, for the crash tests of transactions.
//   tx_producer_process send-and-die NS TOPIC GROUP DB BODY
//     sends BODY in a transaction whose local transaction appends "<transaction id>\n" to the
//     file DB (fsync'd: the application's committed row), prints "committed <id>", then kills its
//     own process with SIGKILL before END_TRANSACTION can be sent.
//   tx_producer_process checker NS GROUP DB
//     a producer of GROUP that answers check-backs from DB: an id in the file is committed, any
//     other is rolled back. Prints "ready", "checked <id> <state>" per check, and runs until
//     SIGTERM.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include "holdfast/transaction_producer.h"

using namespace holdfast;

namespace {

std::set<std::string> read_db(const std::string& path) {
  std::set<std::string> ids;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ids.insert(line);
  }
  return ids;
}

bool append_db(const std::string& path, const std::string& id) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return false;
  const std::string line = id + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

TransactionProducerOptions options(const std::string& ns, const std::string& group, const std::string& instance) {
  TransactionProducerOptions o;
  o.producer.name_servers = {ns};
  o.producer.group = group;
  o.producer.instance_name = instance;
  o.producer.heartbeat_broker_interval_ms = 1000;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "send-and-die" && argc == 7) {
    const std::string ns = argv[2], topic = argv[3], group = argv[4], db = argv[5], body = argv[6];
    TransactionListener l;
    l.execute = [&](const Message&, const std::string&, const std::string& id) {
      if (!append_db(db, id)) {
        std::cerr << "cannot write " << db << std::endl;
        std::_Exit(3);
      }
      std::cout << "committed " << id << std::endl;
      ::kill(::getpid(), SIGKILL);  // before END_TRANSACTION leaves
      return LocalTransactionState::kCommit;
    };
    l.check = [](const ReceivedMessage&) { return LocalTransactionState::kUnknown; };
    auto p = TransactionProducer::start(options(ns, group, "dying"), l);
    if (!p.ok()) {
      std::cerr << p.error().to_string() << std::endl;
      return 2;
    }
    auto r = (*p)->send_in_transaction(Message(topic, body, "TagTx"), "");
    std::cerr << "half send did not reach the local transaction: "
              << (r.ok() ? send_status_name(r->send.status) : r.error().to_string()) << std::endl;
    return 4;
  }
  if (mode == "checker" && argc == 5) {
    const std::string ns = argv[2], group = argv[3], db = argv[4];
    // SIGTERM is taken by sigwait below, not by a handler (blocked before any thread starts).
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    TransactionListener l;
    l.execute = [](const Message&, const std::string&, const std::string&) { return LocalTransactionState::kUnknown; };
    l.check = [db](const ReceivedMessage& m) {
      const bool committed = read_db(db).count(m.msg_id) != 0;
      std::cout << "checked " << m.msg_id << " " << (committed ? "COMMIT" : "ROLLBACK") << std::endl;
      return committed ? LocalTransactionState::kCommit : LocalTransactionState::kRollback;
    };
    auto p = TransactionProducer::start(options(ns, group, "checker"), l);
    if (!p.ok()) {
      std::cerr << p.error().to_string() << std::endl;
      return 2;
    }
    std::cout << "ready" << std::endl;
    int sig = 0;
    sigwait(&stop, &sig);
    (*p)->shutdown();
    return 0;
  }
  std::cerr << "usage: tx_producer_process send-and-die NS TOPIC GROUP DB BODY | checker NS GROUP DB" << std::endl;
  return 1;
}
