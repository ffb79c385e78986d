// Response codes (facts §3.1, RocketMQ ResponseCode and RemotingSysResponseCode): named
// constants and their names for logs. An X-macro keeps constants and names in step.
#pragma once

#include <cstdint>

namespace holdfast::remoting {

// X(constant, "RocketMQ name", code)
#define HF_REMOTING_RESPONSE_CODES(X)                                                      \
  X(kSuccess, "SUCCESS", 0)                                                               \
  X(kSystemError, "SYSTEM_ERROR", 1)                                                      \
  X(kSystemBusy, "SYSTEM_BUSY", 2)                                                        \
  X(kRequestCodeNotSupported, "REQUEST_CODE_NOT_SUPPORTED", 3)                            \
  X(kTransactionFailed, "TRANSACTION_FAILED", 4)                                          \
  X(kFlushDiskTimeout, "FLUSH_DISK_TIMEOUT", 10)                                          \
  X(kSlaveNotAvailable, "SLAVE_NOT_AVAILABLE", 11)                                        \
  X(kFlushSlaveTimeout, "FLUSH_SLAVE_TIMEOUT", 12)                                        \
  X(kMessageIllegal, "MESSAGE_ILLEGAL", 13)                                               \
  X(kServiceNotAvailable, "SERVICE_NOT_AVAILABLE", 14)                                    \
  X(kVersionNotSupported, "VERSION_NOT_SUPPORTED", 15)                                    \
  X(kNoPermission, "NO_PERMISSION", 16)                                                   \
  X(kTopicNotExist, "TOPIC_NOT_EXIST", 17)                                                \
  X(kTopicExistAlready, "TOPIC_EXIST_ALREADY", 18)                                        \
  X(kPullNotFound, "PULL_NOT_FOUND", 19)                                                  \
  X(kPullRetryImmediately, "PULL_RETRY_IMMEDIATELY", 20)                                  \
  X(kPullOffsetMoved, "PULL_OFFSET_MOVED", 21)                                            \
  X(kQueryNotFound, "QUERY_NOT_FOUND", 22)                                                \
  X(kSubscriptionParseFailed, "SUBSCRIPTION_PARSE_FAILED", 23)                            \
  X(kSubscriptionNotExist, "SUBSCRIPTION_NOT_EXIST", 24)                                  \
  X(kSubscriptionNotLatest, "SUBSCRIPTION_NOT_LATEST", 25)                                \
  X(kSubscriptionGroupNotExist, "SUBSCRIPTION_GROUP_NOT_EXIST", 26)                       \
  X(kFilterDataNotExist, "FILTER_DATA_NOT_EXIST", 27)                                     \
  X(kFilterDataNotLatest, "FILTER_DATA_NOT_LATEST", 28)                                   \
  X(kInvalidParameter, "INVALID_PARAMETER", 29)                                           \
  X(kTransactionShouldCommit, "TRANSACTION_SHOULD_COMMIT", 200)                           \
  X(kTransactionShouldRollback, "TRANSACTION_SHOULD_ROLLBACK", 201)                       \
  X(kTransactionStateUnknow, "TRANSACTION_STATE_UNKNOW", 202)                             \
  X(kTransactionStateGroupWrong, "TRANSACTION_STATE_GROUP_WRONG", 203)                    \
  X(kNoBuyerId, "NO_BUYER_ID", 204)                                                       \
  X(kNotInCurrentUnit, "NOT_IN_CURRENT_UNIT", 205)                                        \
  X(kConsumerNotOnline, "CONSUMER_NOT_ONLINE", 206)                                       \
  X(kConsumeMsgTimeout, "CONSUME_MSG_TIMEOUT", 207)                                       \
  X(kNoMessage, "NO_MESSAGE", 208)                                                        \
  /* 209-211 are the 5.x meanings; 4.9 used them for ACL failures (aliases below). */     \
  X(kPollingFull, "POLLING_FULL", 209)                                                    \
  X(kPollingTimeout, "POLLING_TIMEOUT", 210)                                              \
  X(kBrokerNotExist, "BROKER_NOT_EXIST", 211)                                             \
  X(kBrokerDispatchNotComplete, "BROKER_DISPATCH_NOT_COMPLETE", 212)                      \
  X(kBroadcastConsumption, "BROADCAST_CONSUMPTION", 213)                                  \
  X(kFlowControl, "FLOW_CONTROL", 215)                                                    \
  X(kNotLeaderForQueue, "NOT_LEADER_FOR_QUEUE", 501)                                      \
  X(kIllegalOperation, "ILLEGAL_OPERATION", 604)                                          \
  X(kGoAway, "GO_AWAY", 1500)                                                             \
  X(kControllerFencedMasterEpoch, "CONTROLLER_FENCED_MASTER_EPOCH", 2000)                 \
  X(kControllerFencedSyncStateSetEpoch, "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH", 2001)   \
  X(kControllerInvalidMaster, "CONTROLLER_INVALID_MASTER", 2002)                          \
  X(kControllerInvalidReplicas, "CONTROLLER_INVALID_REPLICAS", 2003)                      \
  X(kControllerMasterNotAvailable, "CONTROLLER_MASTER_NOT_AVAILABLE", 2004)               \
  X(kControllerInvalidRequest, "CONTROLLER_INVALID_REQUEST", 2005)                        \
  X(kControllerBrokerNotAlive, "CONTROLLER_BROKER_NOT_ALIVE", 2006)                       \
  X(kControllerNotLeader, "CONTROLLER_NOT_LEADER", 2007)                                  \
  X(kControllerBrokerMetadataNotExist, "CONTROLLER_BROKER_METADATA_NOT_EXIST", 2008)      \
  X(kControllerInvalidCleanBrokerMetadata, "CONTROLLER_INVALID_CLEAN_BROKER_METADATA", 2009) \
  X(kControllerBrokerNeedToBeRegistered, "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED", 2010) \
  X(kControllerMasterStillExist, "CONTROLLER_MASTER_STILL_EXIST", 2011)                   \
  X(kControllerElectMasterFailed, "CONTROLLER_ELECT_MASTER_FAILED", 2012)                 \
  X(kControllerAlterSyncStateSetFailed, "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED", 2013)   \
  X(kControllerBrokerIdInvalid, "CONTROLLER_BROKER_ID_INVALID", 2014)                     \
  X(kControllerJraftInternalError, "CONTROLLER_JRAFT_INTERNAL_ERROR", 2015)               \
  X(kControllerBrokerLiveInfoNotExists, "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS", 2016)   \
  /* Client-local codes: never on the wire, produced by a client's own transport. */      \
  X(kRpcUnknown, "RPC_UNKNOWN", -1000)                                                    \
  X(kRpcAddrIsNull, "RPC_ADDR_IS_NULL", -1002)                                            \
  X(kRpcSendToChannelFailed, "RPC_SEND_TO_CHANNEL_FAILED", -1004)                         \
  X(kRpcTimeOut, "RPC_TIME_OUT", -1006)

namespace response_code {
#define HF_REMOTING_DEFINE_CODE(constant, name, value) inline constexpr int32_t constant = value;
HF_REMOTING_RESPONSE_CODES(HF_REMOTING_DEFINE_CODE)
#undef HF_REMOTING_DEFINE_CODE

// 4.9.x meanings of 209-211 (ACL administration failures).
inline constexpr int32_t kUpdateAndCreateAclConfigFailed = 209;
inline constexpr int32_t kDeleteAclConfigFailed = 210;
inline constexpr int32_t kUpdateGlobalWhiteAddrsConfigFailed = 211;
}  // namespace response_code

// "FLUSH_DISK_TIMEOUT" for 10; the 5.x name for 209-211; "UNKNOWN" for a code not in the table.
const char* response_code_name(int32_t code);

}  // namespace holdfast::remoting
