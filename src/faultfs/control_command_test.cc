// The control grammar: every documented command parses; malformed lines get a reason.
#include "faultfs/control_command.h"

#include <gtest/gtest.h>

namespace holdfast::faultfs {
namespace {

TEST(ControlCommandTest, ParsesDocumentedCommands) {
  ControlCommand c;
  EXPECT_EQ(parse_control_command("status", &c), "");
  EXPECT_EQ(c.kind, CommandKind::kStatus);
  EXPECT_EQ(parse_control_command("power-loss torn", &c), "");
  EXPECT_EQ(c.kind, CommandKind::kPowerLossTorn);
  EXPECT_EQ(parse_control_command("quota 4M", &c), "");
  EXPECT_EQ(c.kind, CommandKind::kQuota);
  EXPECT_EQ(c.number, 4 << 20);
  EXPECT_EQ(parse_control_command("eio fsync on commitlog", &c), "");
  EXPECT_EQ(c.kind, CommandKind::kEioFsync);
  EXPECT_TRUE(c.on);
  EXPECT_EQ(c.substring, "commitlog");
  EXPECT_EQ(parse_control_command("  eio write off ", &c), "");
  EXPECT_FALSE(c.on);
  EXPECT_EQ(parse_control_command("fsync-delay 250", &c), "");
  EXPECT_EQ(c.number, 250);
}

TEST(ControlCommandTest, RejectsMalformedLines) {
  ControlCommand c;
  for (const char* line : {"", "bogus", "quota", "quota -5", "quota 12X", "eio write", "eio read on",
                           "eio write off foo", "power-loss now", "fsync-delay soon", "status now"}) {
    EXPECT_NE(parse_control_command(line, &c), "") << line;
  }
}

}  // namespace
}  // namespace holdfast::faultfs
