// Wiring of one broker: store, configuration managers, processors, server, name-server
// registration.
#include "app/broker_controller.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/hash.h"
#include "base/logging.h"
#include "broker/admin_processor.h"
#include "broker/broker_stats.h"
#include "broker/client_manager.h"
#include "broker/client_processor.h"
#include "broker/consumer_offset_manager.h"
#include "broker/epoch_file.h"
#include "broker/pull_message_processor.h"
#include "broker/rebalance_lock_manager.h"
#include "broker/schedule_message_service.h"
#include "broker/send_message_processor.h"
#include "broker/subscription_group_manager.h"
#include "broker/topic_config_manager.h"
#include "broker/transaction_service.h"
#include "env/env.h"
#include "ha/ha_service.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message_store.h"
#include "transport/remoting_client.h"
#include "transport/remoting_server.h"

namespace holdfast {

namespace req = remoting::request_code;
using remoting::RemotingCommand;
using transport::ConnectionPtr;

namespace {

// The first non-loopback IPv4 address of this host, or 127.0.0.1 when there is none.
std::string detect_local_ipv4() {
  struct ifaddrs* list = nullptr;
  std::string found = "127.0.0.1";
  if (getifaddrs(&list) != 0) return found;
  for (struct ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    auto* sin = reinterpret_cast<struct sockaddr_in*>(it->ifa_addr);
    char buf[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) == nullptr) continue;
    std::string ip = buf;
    if (ip.rfind("127.", 0) == 0) continue;
    found = ip;
    break;
  }
  freeifaddrs(list);
  return found;
}

constexpr int64_t kNameServerTimeoutMs = 3000;
constexpr int64_t kClientScanIntervalMs = 10000;
constexpr int64_t kSlaveSyncIntervalMs = 10000;  // a slave copies its master's metadata this often

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct BrokerController::Impl {
  std::unique_ptr<MessageStore> store;
  std::unique_ptr<broker::TopicConfigManager> topics;
  std::unique_ptr<broker::SubscriptionGroupManager> groups;
  std::unique_ptr<broker::ConsumerOffsetManager> offsets;
  std::unique_ptr<broker::ClientManager> clients;
  std::unique_ptr<broker::SendMessageProcessor> send;
  std::unique_ptr<broker::PullMessageProcessor> pull;
  std::unique_ptr<broker::ClientProcessor> client_processor;
  std::unique_ptr<broker::AdminProcessor> admin;
  std::unique_ptr<broker::ScheduleMessageService> schedule;
  std::unique_ptr<broker::TransactionService> transactions;
  std::unique_ptr<broker::RebalanceLockManager> locks;
  std::unique_ptr<broker::BrokerStats> stats;
  std::unique_ptr<transport::RemotingServer> server;
  transport::RemotingClient name_server_client;
  std::unique_ptr<ha::HaMaster> ha_master;  // masters
  std::unique_ptr<ha::HaSlave> ha_slave;    // slaves
  // Slaves: the master's addresses as the name servers' registration results tell them.
  std::mutex master_mu;
  std::string master_address;     // remoting host:port
  std::string master_ha_address;  // HA host:port
  std::thread slave_sync;
  std::unique_ptr<broker::EpochFile> epochs;
  // Set when this broker's log and its slave's disagree (epoch_divergence): why, for operators.
  std::mutex diverged_mu;
  std::string diverged;
};

BrokerController::BrokerController(Env* env, BrokerConfig config, BrokerRuntimeOptions runtime)
    : env_(env), config_(std::move(config)), runtime_(std::move(runtime)), impl_(std::make_unique<Impl>()) {}

BrokerController::~BrokerController() { stop(); }

std::string BrokerController::advertised_ip(const BrokerConfig& config, const std::string& listen_host) {
  if (!config.broker_ip1.empty()) return config.broker_ip1;
  return (listen_host == "0.0.0.0" || listen_host.empty()) ? detect_local_ipv4() : listen_host;
}

uint16_t BrokerController::port() const { return impl_->server ? impl_->server->port() : 0; }

MessageStore* BrokerController::store() { return impl_->store.get(); }

Status BrokerController::start() {
  auto log = logger("broker");
  HF_ASSIGN_OR_RETURN(StoreOptions store_options, to_store_options(config_));
  // The responses of the puts one fdatasync completes leave in one write per connection, from the
  // flusher thread, without a hand-off to the network threads.
  store_options.completion_batch = [](const std::function<void()>& complete) {
    transport::WriteBatch batch;
    complete();
  };
  HF_ASSIGN_OR_RETURN(store_options.delay_level_ms, parse_delay_levels(config_.message_delay_level));
  FailoverAgent* const failover = runtime_.failover;
  const FailoverRole& frole = runtime_.failover_role;
  if (failover != nullptr && frole.kind == FailoverRole::Kind::kSlave) store_options.truncate_log_to = frole.truncate_to;
  const auto delay_level_count = static_cast<int32_t>(store_options.delay_level_ms.size());

  // The address clients are told: brokerIP1, else the listen host, else a detected address.
  const std::string ip = advertised_ip(config_, runtime_.listen_host);

  // Bind first, so a port of 0 (tests) is known before the store host is fixed.
  transport::ServerOptions server_options;
  server_options.host = runtime_.listen_host.empty() ? "0.0.0.0" : runtime_.listen_host;
  server_options.port = static_cast<uint16_t>(config_.listen_port);
  server_options.io_threads = runtime_.io_threads;
  server_options.idle_timeout_ms = config_.channel_expired_timeout_ms;
  // RocketMQ brokers also serve listenPort - 2 (the "VIP channel"); RocketMQ slaves copy a master's
  // topics (code 21) only through it.
  if (config_.fast_listen_port_enable && config_.listen_port > 2) server_options.extra_ports.push_back(static_cast<uint16_t>(config_.listen_port - 2));
  impl_->server = std::make_unique<transport::RemotingServer>(server_options);

  const std::string config_dir = config_.store_path_root_dir + "/config";
  HF_RETURN_IF_ERROR(env_->create_dirs(config_dir));

  broker::TopicConfigManager::Options topic_options;
  topic_options.path = config_dir + "/topics.json";
  topic_options.cluster_name = config_.broker_cluster_name;
  topic_options.broker_name = config_.broker_name;
  topic_options.auto_create_topic_enable = config_.auto_create_topic_enable;
  topic_options.default_topic_queue_nums = config_.default_topic_queue_nums;
  impl_->topics = std::make_unique<broker::TopicConfigManager>(env_, topic_options);
  HF_RETURN_IF_ERROR(impl_->topics->load());

  broker::SubscriptionGroupManager::Options group_options;
  group_options.path = config_dir + "/subscriptionGroup.json";
  group_options.auto_create_subscription_group = config_.auto_create_subscription_group;
  impl_->groups = std::make_unique<broker::SubscriptionGroupManager>(env_, group_options);
  HF_RETURN_IF_ERROR(impl_->groups->load());

  impl_->offsets = std::make_unique<broker::ConsumerOffsetManager>(env_, config_dir + "/consumerOffset.json");
  HF_RETURN_IF_ERROR(impl_->offsets->load());

  // Offset message ids and the store-host field of each record name the address clients use.
  if (!HostAddress::parse(ip + ":" + std::to_string(config_.listen_port), &store_options.store_host)) {
    return Status::invalid_argument("brokerIP1 '" + ip + "' is not an IP address");
  }
  auto opened = MessageStore::open(env_, store_options);
  if (!opened.is_ok()) return opened.status();
  impl_->store = std::move(opened).value();
  MessageStore* store = impl_->store.get();
  const bool slave = config_.broker_role == BrokerRole::kSlave;
  const bool sync_master = config_.broker_role == BrokerRole::kSyncMaster;
  // SYNC_MASTER: consumers see a message only once a slave holds it (the HA master moves the gate).
  if (sync_master) store->enable_read_gate();
  ha::HaOptions ha_options;
  ha_options.heartbeat_interval_ms = config_.ha_send_heartbeat_interval_ms;
  ha_options.housekeeping_ms = config_.ha_housekeeping_interval_ms;
  ha_options.transfer_batch_bytes = config_.ha_transfer_batch_size;
  ha_options.slave_fallbehind_max = config_.ha_slave_fallbehind_max;
  // The responses one slave acknowledgement releases leave in one write per connection.
  ha_options.completion_batch = [](const std::function<void()>& complete) {
    transport::WriteBatch batch;
    complete();
  };
  impl_->epochs = std::make_unique<broker::EpochFile>(env_, config_dir + "/epochs.json");
  HF_RETURN_IF_ERROR(impl_->epochs->load());
  int64_t master_epoch = -1;  // the epoch this broker acknowledges under; -1 as a slave
  if (failover != nullptr) {
    ha_options.controller_epoch = frole.epoch;
    ha_options.member_id = runtime_.member_id;
  }
  if (!slave && failover != nullptr) {
    // Elected: the epoch and where it starts were fixed in etcd by the election.
    std::vector<broker::Epoch> epochs = frole.master_epochs;
    if (epochs.empty() || epochs.back().epoch != frole.epoch) {
      return Status::invalid_argument("failover: the master key of epoch " + std::to_string(frole.epoch) +
                                      " carries no entry for it");
    }
    const std::vector<broker::Epoch> local = impl_->epochs->entries();
    if (!local.empty() && local.back() == epochs.back()) {
      // The same mastership resumed (the core stepped down while etcd was out of reach): the log
      // has grown since the epoch began.
      epochs = local;
    } else if (epochs.back().start_offset != store->end_offset()) {
      log->error("failover: epoch {} was announced to start at offset {} but this log ends at {} (bytes lost since "
                 "the election?); the epoch starts at the log's end",
                 frole.epoch, epochs.back().start_offset, store->end_offset());
      epochs.back().start_offset = store->end_offset();
    }
    HF_RETURN_IF_ERROR(impl_->epochs->replace(epochs));
    log->info("failover: master of epoch {} from commit-log offset {}", frole.epoch, store->end_offset());
    master_epoch = frole.epoch;
    impl_->ha_master = std::make_unique<ha::HaMaster>(store, ha_options);
    impl_->ha_master->set_in_sync({frole.in_sync, runtime_.min_in_sync_replicas});
  } else if (!slave) {
    // Everything this master writes from here on belongs to a new epoch.
    HF_ASSIGN_OR_RETURN(int64_t epoch, impl_->epochs->begin_epoch(store->end_offset()));
    log->info("master epoch {} begins at commit-log offset {}", epoch, store->end_offset());
    master_epoch = epoch;
    impl_->ha_master = std::make_unique<ha::HaMaster>(store, ha_options);
  } else {
    ha_options.before_connect = [this] { return check_master_history(); };
  }

  // Delay levels: delivers parked messages once due; progress in config/delayOffset.json.
  broker::ScheduleMessageServiceOptions schedule_options;
  schedule_options.delay_level_ms = store_options.delay_level_ms;
  schedule_options.offset_path = config_dir + "/delayOffset.json";
  impl_->schedule = std::make_unique<broker::ScheduleMessageService>(env_, store, schedule_options);
  HF_RETURN_IF_ERROR(impl_->schedule->load());
  // A slave's log is its master's: it delivers nothing itself (its progress is copied).
  if (!slave) impl_->schedule->start();

  // Processors.
  broker::TopicConfigManager* topics = impl_->topics.get();
  broker::SubscriptionGroupManager* groups = impl_->groups.get();
  auto retry_max_times = [groups](const std::string& group) -> int32_t {
    auto g = groups->find(group);
    return g ? g->retry_max_times : 16;
  };
  auto ensure_dlq_topic = [topics](const std::string& group) {
    return topics->ensure_system_style_topic(broker::dlq_topic(group), 1, broker::perm::kReadWrite).status();
  };
  impl_->locks = std::make_unique<broker::RebalanceLockManager>([env = env_] { return env->now_ms(); });
  broker::SendRetryPolicy send_policy;
  send_policy.group_has_order_locks = [locks = impl_->locks.get()](const std::string& group) {
    return locks->group_has_locks(group);
  };
  send_policy.delay_level_count = delay_level_count;
  send_policy.retry_max_times = retry_max_times;
  send_policy.ensure_dlq_topic = ensure_dlq_topic;
  send_policy.cluster_name = config_.broker_cluster_name;
  send_policy.master_epoch = master_epoch;
  if (sync_master) {
    send_policy.await_replica = [ha = impl_->ha_master.get(), timeout = config_.slave_timeout_ms](
                                    int64_t end, std::function<void(PutStatus)> done) {
      ha->wait_replicated(end, timeout, std::move(done));
    };
  }
  if (failover != nullptr) {
    // Fencing: no SEND_OK once this broker's lease may have run out at etcd.
    send_policy.may_acknowledge = [failover, epoch = frole.epoch] { return failover->may_acknowledge(epoch); };
  }
  impl_->send = std::make_unique<broker::SendMessageProcessor>(
      store, store_options.store_host,
      broker::make_topic_resolver(topics), std::move(send_policy));
  broker::ConsumerOffsetManager* offsets = impl_->offsets.get();
  impl_->pull = std::make_unique<broker::PullMessageProcessor>(
      store,
      [offsets](const std::string& group, const std::string& topic, int32_t queue, int64_t offset) {
        offsets->commit(group, topic, queue, offset);
      },
      config_.long_polling_enable, config_.short_polling_time_ms);
  impl_->stats = std::make_unique<broker::BrokerStats>([store] { return store->put_totals(); });
  broker::BrokerStats* stats = impl_->stats.get();
  impl_->pull->set_pull_counter([stats](const std::string& group, const std::string& topic, int64_t messages) {
    stats->on_pull(group, topic, messages);
  });
  broker::PullMessageProcessor* pull = impl_->pull.get();
  if (slave) {
    pull->set_slave_read_policy([this] {
      return config_.slave_read_enable || !impl_->ha_slave || !impl_->ha_slave->master_connected();
    });
  }
  store->set_arrival_listener(
      [pull](const std::string& topic, int32_t queue, int64_t max_offset) { pull->on_arrival(topic, queue, max_offset); });

  broker::ClientManagerOptions cm;
  cm.channel_expired_timeout_ms = config_.channel_expired_timeout_ms;
  cm.scan_interval_ms = kClientScanIntervalMs;
  cm.notify_consumer_ids_changed_enabled = [groups](const std::string& group) {
    auto g = groups->find(group);
    return !g || g->notify_consumer_ids_changed_enable;
  };
  impl_->clients = std::make_unique<broker::ClientManager>(cm);
  broker::ClientProcessorOptions cp;
  cp.broker_name = config_.broker_name;
  cp.store_host = store_options.store_host;
  cp.ensure_group = [groups](const std::string& group) { return groups->find_or_create(group).is_ok(); };
  cp.ensure_retry_topic = [topics](const std::string& group) -> Result<int32_t> {
    HF_ASSIGN_OR_RETURN(broker::TopicConfig t, topics->ensure_system_style_topic(broker::retry_topic(group), 1, broker::perm::kReadWrite));
    return t.write_queue_nums;
  };
  cp.ensure_dlq_topic = ensure_dlq_topic;
  cp.retry_max_times = retry_max_times;
  cp.delay_level_count = delay_level_count;
  cp.read_queue_count = [topics](const std::string& topic) -> std::optional<int32_t> {
    auto t = topics->find(topic);
    if (!t) return std::nullopt;
    return t->read_queue_nums;
  };
  cp.consume_tps = [stats](const std::string& group, const std::string& topic) {
    return stats->consume_tps(group, topic);
  };
  impl_->client_processor =
      std::make_unique<broker::ClientProcessor>(store, offsets, impl_->clients.get(), std::move(cp));

  // Transactions: half messages, END_TRANSACTION, check-back rounds (progress as consumer offsets).
  broker::TransactionServiceOptions tx;
  tx.check_interval_ms = config_.transaction_check_interval_ms;
  tx.timeout_ms = config_.transaction_timeout_ms;
  tx.check_max = config_.transaction_check_max;
  tx.store_host = store_options.store_host;
  tx.cluster_name = config_.broker_cluster_name;
  tx.slave = config_.broker_role == BrokerRole::kSlave;
  impl_->transactions = std::make_unique<broker::TransactionService>(env_, store, offsets, impl_->clients.get(),
                                                                     topics, std::move(tx));
  HF_RETURN_IF_ERROR(impl_->transactions->load());

  broker::AdminProcessorOptions ap;
  ap.store = store;
  ap.topics = topics;
  ap.groups = groups;
  ap.env = env_;
  ap.broker_name = config_.broker_name;
  ap.cluster_name = config_.broker_cluster_name;
  ap.broker_address = ip + ":" + std::to_string(config_.listen_port);
  ap.on_topic_deleted = [offsets, store](const std::string& topic) {
    offsets->remove_topic(topic);
    return store->delete_topic(topic);
  };
  ap.extra_runtime_info = [stats] { return stats->runtime_info(); };
  impl_->admin = std::make_unique<broker::AdminProcessor>(std::move(ap));

  transport::RemotingServer& server = *impl_->server;
  for (int32_t code : {req::kSendMessage, req::kSendMessageV2, req::kSendBatchMessage}) {
    server.register_handler(code, [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
      std::string diverged;
      {
        std::lock_guard<std::mutex> l(impl_->diverged_mu);
        diverged = impl_->diverged;
      }
      if (!diverged.empty()) {
        if (!r.is_oneway()) {
          c->send_response(r.make_response(remoting::response_code::kServiceNotAvailable,
                                           "this master's log diverged from its slave's (" + diverged +
                                               "); it takes no sends until an operator recovers the group "
                                               "(docs/replication.md)"),
                           t);
        }
        return;
      }
      impl_->send->handle(c, std::move(r), t);
    });
  }
  server.register_handler(req::kHoldfastHaDiverged,
                          [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
                            const std::string reason(r.ext("reason").value_or("no reason given"));
                            {
                              std::lock_guard<std::mutex> l(impl_->diverged_mu);
                              if (impl_->diverged.empty()) {
                                logger("broker")->error(
                                    "slave {} reports that this master's log diverged: {}; sends are refused from "
                                    "now on (docs/replication.md: recovery)",
                                    c->remote_address(), reason);
                              }
                              impl_->diverged = reason;
                            }
                            c->send_response(r.make_response(remoting::response_code::kSuccess), t);
                          });
  server.register_handler(req::kHoldfastHaStatus,
                          [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
                            RemotingCommand resp = r.make_response(remoting::response_code::kSuccess);
                            resp.body = ha_status_json();
                            c->send_response(resp, t);
                          });
  server.register_handler(req::kPullMessage, [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
    impl_->pull->handle(c, std::move(r), t);
  });
  impl_->client_processor->register_to(server);
  // What a slave copies from its master every 10 s besides topics (21) and groups (201).
  server.register_handler(req::kGetAllConsumerOffset,
                          [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
                            RemotingCommand resp = r.make_response(remoting::response_code::kSuccess);
                            resp.body = impl_->offsets->encode();
                            c->send_response(resp, t);
                          });
  server.register_handler(req::kGetAllDelayOffset,
                          [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
                            RemotingCommand resp = r.make_response(remoting::response_code::kSuccess);
                            resp.body = impl_->schedule->encode();
                            c->send_response(resp, t);
                          });
  server.register_handler(req::kEndTransaction, [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
    impl_->transactions->handle_end(c, std::move(r), t);
  });
  server.register_handler(req::kHoldfastTransactionList,
                          [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
                            impl_->transactions->handle_list(c, std::move(r), t);
                          });
  impl_->locks->register_to(server);
  impl_->admin->register_to(server);
  if (slave) {
    // A slave's log is its master's copy: it takes no writes of its own (facts §7.1).
    for (int32_t code : {req::kSendMessage, req::kSendMessageV2, req::kSendBatchMessage, req::kConsumerSendMsgBack}) {
      server.register_handler(code, [this](const ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
        if (r.is_oneway()) return;
        c->send_response(r.make_response(remoting::response_code::kServiceNotAvailable,
                                         "broker " + config_.broker_name + " id " + std::to_string(config_.broker_id) +
                                             " is a SLAVE: sends go to the master (brokerId 0) of its group"),
                         t);
      });
    }
  }
  broker::ClientManager* clients = impl_->clients.get();
  server.set_close_listener([clients](const ConnectionPtr& c) { clients->on_connection_closed(c); });
  // Every send cut from one socket read is appended as one group: one write, one flusher wake-up.
  server.set_read_turn([store](const std::function<void()>& handle_requests) {
    MessageStore::PutBatch batch(store);
    handle_requests();
  });

  // A topic change (create, delete, auto-create) is announced to the name servers at once.
  topics->set_change_listener([this] {
    std::lock_guard<std::mutex> l(mu_);
    register_now_ = true;
    cv_.notify_all();
  });

  if (impl_->ha_master) {
    HF_RETURN_IF_ERROR(impl_->ha_master->start(server_options.host, static_cast<uint16_t>(effective_ha_listen_port(config_))));
  }
  HF_RETURN_IF_ERROR(server.start());
  address_ = ip + ":" + std::to_string(server.port());
  impl_->offsets->start(config_.flush_consumer_offset_interval_ms);
  impl_->clients->start();
  impl_->transactions->start();
  started_ = true;
  log->info("broker {} of cluster {} serving on {} (data in {}, {})", config_.broker_name,
            config_.broker_cluster_name, address_, config_.store_path_root_dir,
            config_.flush_disk_type == FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH");
  if (slave) impl_->offsets->track_local_commits();
  if (failover != nullptr && slave) {
    std::lock_guard<std::mutex> l(impl_->master_mu);
    impl_->master_address = frole.master_address;
    impl_->master_ha_address = frole.master_ha_address;
  }
  register_all_name_servers();
  if (slave) {
    impl_->ha_slave = std::make_unique<ha::HaSlave>(
        store,
        [this]() -> std::string {
          if (runtime_.failover != nullptr) return runtime_.failover_role.master_ha_address;
          if (!config_.ha_master_address.empty()) return config_.ha_master_address;
          std::lock_guard<std::mutex> l(impl_->master_mu);
          return impl_->master_ha_address;
        },
        ha_options);
    impl_->ha_slave->start();
    impl_->slave_sync = std::thread([this] { slave_sync_loop(); });
    log->info("slave {} of group {} replicating from {}", config_.broker_id, config_.broker_name,
              config_.ha_master_address.empty() ? "the master the name servers name" : config_.ha_master_address);
  }
  impl_->stats->start([env = env_] { return env->now_ms(); });
  registrar_ = std::thread([this] { register_loop(); });
  if (failover != nullptr) {
    FailoverHooks hooks;
    hooks.durable_end = [store] { return store->confirmed_offset(); };
    if (impl_->ha_slave) hooks.stop_replication = [ha = impl_->ha_slave.get()] { ha->stop(); };
    if (impl_->ha_master) {
      ha::HaMaster* ha = impl_->ha_master.get();
      const int min_in_sync = runtime_.min_in_sync_replicas;
      hooks.slaves = [ha] { return ha->slaves(); };
      hooks.try_add_in_sync = [ha](int64_t member) { return ha->try_add_in_sync(member); };
      hooks.set_in_sync = [ha, min_in_sync](std::vector<int64_t> members) {
        ha->set_in_sync({std::move(members), min_in_sync});
      };
    }
    failover->set_hooks(std::move(hooks));
  }
  return Status::ok();
}

void BrokerController::slave_sync_loop() {
  auto log = logger("broker");
  std::string last_error;
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    l.unlock();
    std::string master;
    {
      std::lock_guard<std::mutex> m(impl_->master_mu);
      master = impl_->master_address;
    }
    Status st = master.empty() ? Status::not_found("the master's address is not known yet (no name server told it)")
                               : sync_from_master(master);
    const std::string error = st.is_ok() ? "" : st.to_string();
    if (!st.is_ok() && error != last_error) log->warn("slave: copying the master's metadata: {}", error);
    last_error = error;
    l.lock();
    cv_.wait_for(l, std::chrono::milliseconds(master.empty() ? 1000 : kSlaveSyncIntervalMs), [this] { return stop_; });
  }
}

Status BrokerController::sync_from_master(const std::string& master) {
  auto fetch = [&](int32_t code) -> Result<std::string> {
    auto resp = impl_->name_server_client.invoke_sync(master, RemotingCommand::make_request(code), kNameServerTimeoutMs);
    if (!resp.is_ok()) return resp.status();
    if (resp->code != remoting::response_code::kSuccess) {
      return Status::io_error("request " + std::to_string(code) + " answered " + std::to_string(resp->code) + " " +
                              resp->remark.value_or(""));
    }
    return std::move(resp->body);
  };
  HF_ASSIGN_OR_RETURN(std::string topics, fetch(req::kGetAllTopicConfig));
  HF_RETURN_IF_ERROR(impl_->topics->replace_from_master(topics).status());
  HF_ASSIGN_OR_RETURN(std::string offsets, fetch(req::kGetAllConsumerOffset));
  HF_RETURN_IF_ERROR(impl_->offsets->merge_from_master(offsets));
  HF_ASSIGN_OR_RETURN(std::string delays, fetch(req::kGetAllDelayOffset));
  HF_RETURN_IF_ERROR(impl_->schedule->replace_from_master(delays));
  HF_ASSIGN_OR_RETURN(std::string groups, fetch(req::kGetAllSubscriptionGroupConfig));
  HF_RETURN_IF_ERROR(impl_->groups->replace_from_master(groups).status());
  last_sync_ms_.store(wall_now_ms());
  return Status::ok();
}

Status BrokerController::check_master_history() {
  std::string master;
  {
    std::lock_guard<std::mutex> l(impl_->master_mu);
    master = impl_->master_address;
  }
  // Without the master's remoting address (haMasterAddress set, no name server answer yet) there
  // is nothing to compare; the HA stream's own offset checks still apply.
  if (master.empty()) return Status::ok();
  auto resp = impl_->name_server_client.invoke_sync(
      master, RemotingCommand::make_request(req::kHoldfastHaStatus), kNameServerTimeoutMs);
  if (!resp.is_ok()) return Status::io_error("asking the master " + master + " for its epochs: " + resp.status().message());
  if (resp->code != remoting::response_code::kSuccess) return Status::ok();  // not a Holdfast master (migration)
  nlohmann::json doc = nlohmann::json::parse(resp->body, nullptr, false);
  if (!doc.is_object() || !doc.contains("epochs")) return Status::ok();
  auto master_epochs = broker::decode_epochs(nlohmann::json{{"epochs", doc["epochs"]}}.dump());
  if (!master_epochs.is_ok()) return master_epochs.status();
  const int64_t master_end = doc.value("confirmedOffset", int64_t{0});
  const std::string why = broker::epoch_divergence(*master_epochs, master_end, impl_->epochs->entries(),
                                                   impl_->store->end_offset());
  if (!why.empty()) {
    {
      std::lock_guard<std::mutex> l(impl_->diverged_mu);
      if (impl_->diverged.empty()) {
        logger("broker")->error("slave: not replicating from {}: {}. This slave keeps its log (it may hold "
                                "acknowledged messages); see docs/replication.md: recovery",
                                master, why);
      }
      impl_->diverged = why;
    }
    RemotingCommand tell = RemotingCommand::make_request(req::kHoldfastHaDiverged);
    tell.set_ext("reason", why);
    (void)impl_->name_server_client.invoke_sync(master, std::move(tell), kNameServerTimeoutMs);
    return Status::corruption("diverged from the master: " + why);
  }
  {
    std::lock_guard<std::mutex> l(impl_->diverged_mu);
    impl_->diverged.clear();
  }
  return impl_->epochs->replace(*master_epochs);
}

std::string BrokerController::ha_status_json() const {
  MessageStore* store = impl_->store.get();
  nlohmann::json j;
  const char* role = config_.broker_role == BrokerRole::kSlave       ? "SLAVE"
                     : config_.broker_role == BrokerRole::kSyncMaster ? "SYNC_MASTER"
                                                                      : "ASYNC_MASTER";
  j["role"] = role;
  j["brokerName"] = config_.broker_name;
  j["brokerId"] = config_.broker_id;
  j["clusterName"] = config_.broker_cluster_name;
  j["address"] = address_;
  if (runtime_.failover != nullptr) {
    j["controller"] = nlohmann::json::parse(runtime_.failover->status_json(), nullptr, false);
  }
  j["flushDiskType"] = config_.flush_disk_type == FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
  j["endOffset"] = store->end_offset();
  j["confirmedOffset"] = store->confirmed_offset();
  j["flushedOffset"] = store->flushed_offset();
  j["readableOffset"] = store->readable_offset();
  j["nowMillis"] = wall_now_ms();
  nlohmann::json epochs = nlohmann::json::array();
  for (const broker::Epoch& e : impl_->epochs->entries()) epochs.push_back({e.epoch, e.start_offset});
  j["epochs"] = std::move(epochs);
  {
    std::lock_guard<std::mutex> l(impl_->diverged_mu);
    if (!impl_->diverged.empty()) j["diverged"] = impl_->diverged;
  }
  if (impl_->ha_master) {
    j["haPort"] = impl_->ha_master->port();
    nlohmann::json slaves = nlohmann::json::array();
    const int64_t confirmed = store->confirmed_offset();
    const ha::InSyncPolicy in_sync = impl_->ha_master->in_sync();
    for (const ha::SlaveInfo& s : impl_->ha_master->slaves()) {
      const int64_t lag = std::max<int64_t>(0, confirmed - s.ack);
      // Under automatic failover "in sync" means a member of the in-sync set.
      const bool member = std::find(in_sync.members.begin(), in_sync.members.end(), s.member_id) != in_sync.members.end();
      slaves.push_back({{"peer", s.peer},
                        {"ackOffset", s.ack},
                        {"lagBytes", lag},
                        {"lastAckMillis", s.last_ack_ms},
                        {"caughtUpMillis", s.caught_up_ms},
                        {"connectedMillis", s.connected_ms},
                        {"memberId", s.member_id},
                        {"inSync", runtime_.failover != nullptr ? member : lag <= config_.ha_slave_fallbehind_max}});
    }
    j["slaves"] = std::move(slaves);
    if (runtime_.failover != nullptr) j["quorumAckOffset"] = impl_->ha_master->quorum_ack();
  }
  if (impl_->ha_slave) {
    j["masterHaAddress"] = impl_->ha_slave->current_master();
    j["masterConnected"] = impl_->ha_slave->master_connected();
    j["lastReceiveMillis"] = impl_->ha_slave->last_receive_ms();
    j["lastMetadataSyncMillis"] = last_sync_ms_.load();
    std::lock_guard<std::mutex> l(impl_->master_mu);
    j["masterAddress"] = impl_->master_address;
  }
  return j.dump();
}

void BrokerController::register_loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    // A slave without a master (not named yet, or its connection down) asks every second: the
    // registration result is how it learns where the master is.
    int64_t period = config_.register_name_server_period_ms;
    if (config_.broker_role == BrokerRole::kSlave && config_.ha_master_address.empty() &&
        (!impl_->ha_slave || !impl_->ha_slave->master_connected())) {
      period = 1000;
    }
    cv_.wait_for(l, std::chrono::milliseconds(period), [this] { return stop_ || register_now_; });
    if (stop_) break;
    register_now_ = false;
    l.unlock();
    register_all_name_servers();
    l.lock();
  }
}

void BrokerController::register_all_name_servers() {
  auto log = logger("broker");
  const std::string body = impl_->topics->encode_register_body();
  const uint32_t crc = crc32_ieee(body.data(), body.size()) & 0x7FFFFFFFu;
  for (const std::string& ns : name_server_addresses(config_)) {
    RemotingCommand r = RemotingCommand::make_request(req::kRegisterBroker);
    r.set_ext("brokerName", config_.broker_name);
    r.set_ext("brokerAddr", address_);
    r.set_ext("clusterName", config_.broker_cluster_name);
    std::string ha_host = address_.substr(0, address_.rfind(':'));
    r.set_ext("haServerAddr", ha_host + ":" + std::to_string(effective_ha_listen_port(config_)));
    r.set_ext_int("brokerId", config_.broker_id);
    r.set_ext_bool("compressed", false);
    r.set_ext_int("bodyCrc32", static_cast<int64_t>(crc));
    r.body = body;
    auto resp = impl_->name_server_client.invoke_sync(ns, std::move(r), kNameServerTimeoutMs);
    if (!resp.is_ok()) {
      log->warn("register with name server {} failed: {}", ns, resp.status().to_string());
    } else if ((*resp).code != remoting::response_code::kSuccess) {
      log->warn("name server {} refused the registration: code {} {}", ns, (*resp).code, (*resp).remark.value_or(""));
    } else {
      log->debug("registered with name server {}", ns);
      // A slave learns its master's addresses from the registration result (facts §12.3).
      // Under automatic failover etcd names the master, not the name servers.
      if (config_.broker_role == BrokerRole::kSlave && runtime_.failover == nullptr) {
        std::string master(resp->ext("masterAddr").value_or(""));
        std::string master_ha(resp->ext("haServerAddr").value_or(""));
        std::lock_guard<std::mutex> m(impl_->master_mu);
        if (master != impl_->master_address || master_ha != impl_->master_ha_address) {
          log->info("slave: the name server {} names master {} (HA {})", ns, master.empty() ? "none" : master,
                    master_ha.empty() ? "none" : master_ha);
        }
        impl_->master_address = master;
        impl_->master_ha_address = master_ha;
      }
    }
  }
}

void BrokerController::unregister_all_name_servers() {
  for (const std::string& ns : name_server_addresses(config_)) {
    RemotingCommand r = RemotingCommand::make_request(req::kUnregisterBroker);
    r.set_ext("brokerName", config_.broker_name);
    r.set_ext("brokerAddr", address_);
    r.set_ext("clusterName", config_.broker_cluster_name);
    r.set_ext_int("brokerId", config_.broker_id);
    auto resp = impl_->name_server_client.invoke_sync(ns, std::move(r), kNameServerTimeoutMs);
    if (!resp.is_ok()) logger("broker")->warn("unregister from name server {} failed: {}", ns, resp.status().to_string());
  }
}

void BrokerController::stop() {
  if (runtime_.failover != nullptr) runtime_.failover->clear_hooks();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    stop_ = true;
    cv_.notify_all();
  }
  if (registrar_.joinable()) registrar_.join();
  if (impl_->slave_sync.joinable()) impl_->slave_sync.join();
  auto log = logger("broker");
  if (impl_->ha_slave) impl_->ha_slave->stop();
  if (started_) unregister_all_name_servers();
  impl_->name_server_client.shutdown();
  if (impl_->server) impl_->server->stop();
  if (impl_->ha_master) impl_->ha_master->stop();
  if (impl_->pull) impl_->pull->stop();
  if (impl_->stats) impl_->stats->stop();
  if (impl_->transactions) impl_->transactions->stop();
  if (impl_->clients) impl_->clients->stop();
  if (impl_->offsets) {
    Status st = impl_->offsets->stop();
    if (!st.is_ok()) log->error("persisting consumer offsets: {}", st.to_string());
  }
  if (impl_->schedule) {
    Status st = impl_->schedule->stop();
    if (!st.is_ok()) log->error("persisting delay-level progress: {}", st.to_string());
  }
  if (impl_->store) {
    Status st = impl_->store->shutdown();
    if (!st.is_ok()) log->error("store shutdown: {}", st.to_string());
  }
  if (started_) log->info("broker {} stopped", config_.broker_name);
}

}  // namespace holdfast
