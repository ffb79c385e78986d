// Request codes (facts §2.1, RocketMQ RequestCode): named constants and their names for logs.
// The list is an X-macro so a constant and its printed name cannot drift apart.
#pragma once

#include <cstdint>

namespace holdfast::remoting {

// X(constant, "RocketMQ name", code)
#define HF_REMOTING_REQUEST_CODES(X)                                               \
  X(kSendMessage, "SEND_MESSAGE", 10)                                             \
  X(kPullMessage, "PULL_MESSAGE", 11)                                             \
  X(kQueryMessage, "QUERY_MESSAGE", 12)                                           \
  X(kQueryBrokerOffset, "QUERY_BROKER_OFFSET", 13)                                \
  X(kQueryConsumerOffset, "QUERY_CONSUMER_OFFSET", 14)                            \
  X(kUpdateConsumerOffset, "UPDATE_CONSUMER_OFFSET", 15)                          \
  X(kUpdateAndCreateTopic, "UPDATE_AND_CREATE_TOPIC", 17)                         \
  X(kGetAllTopicConfig, "GET_ALL_TOPIC_CONFIG", 21)                               \
  X(kUpdateBrokerConfig, "UPDATE_BROKER_CONFIG", 25)                              \
  X(kGetBrokerConfig, "GET_BROKER_CONFIG", 26)                                    \
  X(kGetBrokerRuntimeInfo, "GET_BROKER_RUNTIME_INFO", 28)                         \
  X(kSearchOffsetByTimestamp, "SEARCH_OFFSET_BY_TIMESTAMP", 29)                   \
  X(kGetMaxOffset, "GET_MAX_OFFSET", 30)                                          \
  X(kGetMinOffset, "GET_MIN_OFFSET", 31)                                          \
  X(kGetEarliestMsgStoretime, "GET_EARLIEST_MSG_STORETIME", 32)                   \
  X(kViewMessageById, "VIEW_MESSAGE_BY_ID", 33)                                   \
  X(kHeartBeat, "HEART_BEAT", 34)                                                 \
  X(kUnregisterClient, "UNREGISTER_CLIENT", 35)                                   \
  X(kConsumerSendMsgBack, "CONSUMER_SEND_MSG_BACK", 36)                           \
  X(kEndTransaction, "END_TRANSACTION", 37)                                       \
  X(kGetConsumerListByGroup, "GET_CONSUMER_LIST_BY_GROUP", 38)                    \
  X(kCheckTransactionState, "CHECK_TRANSACTION_STATE", 39)                        \
  X(kNotifyConsumerIdsChanged, "NOTIFY_CONSUMER_IDS_CHANGED", 40)                 \
  X(kLockBatchMq, "LOCK_BATCH_MQ", 41)                                            \
  X(kUnlockBatchMq, "UNLOCK_BATCH_MQ", 42)                                        \
  X(kGetAllConsumerOffset, "GET_ALL_CONSUMER_OFFSET", 43)                         \
  X(kGetAllDelayOffset, "GET_ALL_DELAY_OFFSET", 45)                               \
  X(kPutKvConfig, "PUT_KV_CONFIG", 100)                                           \
  X(kGetKvConfig, "GET_KV_CONFIG", 101)                                           \
  X(kDeleteKvConfig, "DELETE_KV_CONFIG", 102)                                     \
  X(kRegisterBroker, "REGISTER_BROKER", 103)                                      \
  X(kUnregisterBroker, "UNREGISTER_BROKER", 104)                                  \
  X(kGetRouteinfoByTopic, "GET_ROUTEINFO_BY_TOPIC", 105)                          \
  X(kGetBrokerClusterInfo, "GET_BROKER_CLUSTER_INFO", 106)                        \
  X(kUpdateAndCreateSubscriptionGroup, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP", 200) \
  X(kGetAllSubscriptionGroupConfig, "GET_ALL_SUBSCRIPTIONGROUP_CONFIG", 201)      \
  X(kGetTopicStatsInfo, "GET_TOPIC_STATS_INFO", 202)                              \
  X(kGetConsumerConnectionList, "GET_CONSUMER_CONNECTION_LIST", 203)              \
  X(kGetProducerConnectionList, "GET_PRODUCER_CONNECTION_LIST", 204)              \
  X(kWipeWritePermOfBroker, "WIPE_WRITE_PERM_OF_BROKER", 205)                     \
  X(kGetAllTopicListFromNameserver, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER", 206)    \
  X(kDeleteSubscriptionGroup, "DELETE_SUBSCRIPTIONGROUP", 207)                    \
  X(kGetConsumeStats, "GET_CONSUME_STATS", 208)                                   \
  X(kDeleteTopicInBroker, "DELETE_TOPIC_IN_BROKER", 215)                          \
  X(kDeleteTopicInNamesrv, "DELETE_TOPIC_IN_NAMESRV", 216)                        \
  X(kRegisterTopicInNamesrv, "REGISTER_TOPIC_IN_NAMESRV", 217)                    \
  X(kGetKvlistByNamespace, "GET_KVLIST_BY_NAMESPACE", 219)                        \
  X(kResetConsumerClientOffset, "RESET_CONSUMER_CLIENT_OFFSET", 220)              \
  X(kGetConsumerStatusFromClient, "GET_CONSUMER_STATUS_FROM_CLIENT", 221)         \
  X(kInvokeBrokerToResetOffset, "INVOKE_BROKER_TO_RESET_OFFSET", 222)             \
  X(kGetTopicsByCluster, "GET_TOPICS_BY_CLUSTER", 224)                            \
  X(kQueryTopicConsumeByWho, "QUERY_TOPIC_CONSUME_BY_WHO", 300)                   \
  X(kGetConsumerRunningInfo, "GET_CONSUMER_RUNNING_INFO", 307)                    \
  X(kConsumeMessageDirectly, "CONSUME_MESSAGE_DIRECTLY", 309)                     \
  X(kSendMessageV2, "SEND_MESSAGE_V2", 310)                                       \
  X(kSendBatchMessage, "SEND_BATCH_MESSAGE", 320)                                 \
  X(kQueryConsumeQueue, "QUERY_CONSUME_QUEUE", 321)                               \
  X(kQueryDataVersion, "QUERY_DATA_VERSION", 322)                                 \
  X(kSendReplyMessage, "SEND_REPLY_MESSAGE", 324)                                 \
  X(kSendReplyMessageV2, "SEND_REPLY_MESSAGE_V2", 325)                            \
  X(kPushReplyMessageToClient, "PUSH_REPLY_MESSAGE_TO_CLIENT", 326)               \
  X(kAddWritePermOfBroker, "ADD_WRITE_PERM_OF_BROKER", 327)                       \
  X(kGetTopicConfig, "GET_TOPIC_CONFIG", 351)                                     \
  X(kLitePullMessage, "LITE_PULL_MESSAGE", 361)                                   \
  X(kQueryAssignment, "QUERY_ASSIGNMENT", 400)                                    \
  X(kSetMessageRequestMode, "SET_MESSAGE_REQUEST_MODE", 401)                      \
  X(kBrokerHeartbeat, "BROKER_HEARTBEAT", 904)                                    \
  X(kExchangeBrokerHaInfo, "EXCHANGE_BROKER_HA_INFO", 906)                        \
  X(kControllerAlterSyncStateSet, "CONTROLLER_ALTER_SYNC_STATE_SET", 1001)        \
  X(kControllerElectMaster, "CONTROLLER_ELECT_MASTER", 1002)                      \
  X(kControllerRegisterBroker, "CONTROLLER_REGISTER_BROKER", 1003)                \
  X(kControllerGetReplicaInfo, "CONTROLLER_GET_REPLICA_INFO", 1004)               \
  X(kGetBrokerEpochCache, "GET_BROKER_EPOCH_CACHE", 1007)                         \
  X(kNotifyBrokerRoleChanged, "NOTIFY_BROKER_ROLE_CHANGED", 1008)                 \
  /* Holdfast's own admin requests (no RocketMQ code). */                         \
  X(kHoldfastTransactionList, "HOLDFAST_TRANSACTION_LIST", 20501)                 \
  X(kHoldfastHaStatus, "HOLDFAST_HA_STATUS", 20502)                               \
  X(kHoldfastHaDiverged, "HOLDFAST_HA_DIVERGED", 20503)                           \
  /* 5.x pop/ack: above 32767, so they only travel in JSON headers. */            \
  X(kPopMessage, "POP_MESSAGE", 200050)                                           \
  X(kAckMessage, "ACK_MESSAGE", 200051)                                           \
  X(kPeekMessage, "PEEK_MESSAGE", 200052)                                         \
  X(kChangeMessageInvisibleTime, "CHANGE_MESSAGE_INVISIBLETIME", 200053)          \
  X(kNotification, "NOTIFICATION", 200054)                                        \
  X(kPollingInfo, "POLLING_INFO", 200055)                                         \
  X(kBatchAckMessage, "BATCH_ACK_MESSAGE", 200151)

namespace request_code {
#define HF_REMOTING_DEFINE_CODE(constant, name, value) inline constexpr int32_t constant = value;
HF_REMOTING_REQUEST_CODES(HF_REMOTING_DEFINE_CODE)
#undef HF_REMOTING_DEFINE_CODE
}  // namespace request_code

// "SEND_MESSAGE_V2" for 310; "UNKNOWN" for a code not in the table.
const char* request_code_name(int32_t code);

}  // namespace holdfast::remoting
