// Tests of configuration loading and validation (main/config.hpp).
#include "main/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace lanmesh {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class ConfigFiles : public ::testing::Test {
protected:
  void SetUp() override {
    auto tmpl = (fs::temp_directory_path() / "lanmesh-config-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    ASSERT_NE(mkdtemp(buf.data()), nullptr);
    dir_ = buf.data();
  }

  void TearDown() override {
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  std::string path(const std::string& name) const {
    return (fs::path(dir_) / name).string();
  }

  std::string write(const std::string& name, const std::string& text) {
    auto p = path(name);
    std::ofstream out(p, std::ios::binary);
    out << text;
    EXPECT_TRUE(out.good()) << p;
    return p;
  }

  std::string dir_;
};

node_config load_ok(const std::vector<std::string>& args,
                    const std::vector<std::string>& paths = {}) {
  auto r = load_config(args, paths);
  if (auto* e = std::get_if<config_error>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return {};
  }
  if (std::holds_alternative<help_requested>(r)) {
    ADD_FAILURE() << "unexpected help_requested";
    return {};
  }
  return std::get<node_config>(r);
}

std::string load_error(const std::vector<std::string>& args,
                       const std::vector<std::string>& paths = {}) {
  auto r = load_config(args, paths);
  if (auto* e = std::get_if<config_error>(&r))
    return e->message;
  ADD_FAILURE() << "expected a config_error";
  return {};
}

// ---------------------------------------------------------------------------
// Defaults

TEST(ConfigDefaults, MatchTheHeader) {
  auto c = load_ok({});
  EXPECT_EQ(c.cluster, "lanmesh");
  EXPECT_FALSE(c.id.has_value());
  EXPECT_EQ(c.listen, "0.0.0.0");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.port_first, 49152);
  EXPECT_EQ(c.port_last, 65535);
  EXPECT_TRUE(c.peers.empty());
  EXPECT_EQ(c.max_payload, 65536u);
  EXPECT_EQ(c.handshake_timeout_ms, 3000u);
  EXPECT_EQ(c.redial_min_ms, 100u);
  EXPECT_EQ(c.redial_max_ms, 5000u);
  EXPECT_EQ(c.seen_max_entries, 200000u);
  EXPECT_EQ(c.seen_max_age_s, 300u);
  EXPECT_EQ(c.heartbeat_ms, 1200u);
  EXPECT_EQ(c.dead_after_ms, 1800u);
  EXPECT_EQ(c.max_members, 1024u);
  EXPECT_EQ(c.sync_interval_ms, 30000u);
  EXPECT_EQ(c.reconnect_for_ms, 120000u);
  EXPECT_TRUE(c.discovery_enabled);
  EXPECT_EQ(c.discovery_group, "239.255.77.77");
  EXPECT_EQ(c.discovery_port, 49152);
  EXPECT_EQ(c.discovery_interface, "127.0.0.1");
  EXPECT_EQ(c.discovery_ttl, 1);
  EXPECT_EQ(c.console_output, "text");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_file, "");
  EXPECT_EQ(c.config_file, "");
}

TEST_F(ConfigFiles, MissingDefaultPathsGiveDefaults) {
  auto c = load_ok({}, {path("nope.conf"), path("also-nope.conf")});
  EXPECT_EQ(c.config_file, "");
  EXPECT_EQ(c.cluster, "lanmesh");
}

// ---------------------------------------------------------------------------
// Every bad value is an error naming key and value

struct bad_case {
  const char* name;
  std::string key;
  std::string value;
};

class ConfigBadValue : public ::testing::TestWithParam<bad_case> {};

TEST_P(ConfigBadValue, ErrorNamesKeyAndValue) {
  auto& p = GetParam();
  auto msg = load_error({"--" + p.key + "=" + p.value});
  EXPECT_THAT(msg, HasSubstr(p.key));
  EXPECT_THAT(msg, HasSubstr(p.value));
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";
}

TEST_P(ConfigBadValue, SameErrorFromApplySetting) {
  auto& p = GetParam();
  node_config c;
  auto e = apply_setting(c, p.key, p.value);
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->message, HasSubstr(p.key));
  EXPECT_THAT(e->message, HasSubstr(p.value));
}

INSTANTIATE_TEST_SUITE_P(
    All, ConfigBadValue,
    ::testing::Values(bad_case{"PortTooLarge", "node.port", "70000"},
                      bad_case{"PortNotANumber", "node.port", "abc"},
                      bad_case{"PortNegative", "node.port", "-1"},
                      bad_case{"PortRangeReversed", "node.port-range", "9000-8000"},
                      bad_case{"PortRangeFromZero", "node.port-range", "0-10"},
                      bad_case{"PortRangeNoDash", "node.port-range", "9000"},
                      bad_case{"PortRangeTooHigh", "node.port-range", "9000-65536"},
                      bad_case{"PeerMissingPort", "node.peers", "[127.0.0.1]"},
                      bad_case{"PeerNotIpv4", "node.peers", "[host:1]"},
                      bad_case{"PeerPortZero", "node.peers", "[127.0.0.1:0]"},
                      bad_case{"PeerPortTooLarge", "node.peers", "[127.0.0.1:65536]"},
                      bad_case{"PeersUnclosedList", "node.peers", "[127.0.0.1:1"},
                      bad_case{"ConsoleOutputXml", "console.output", "xml"},
                      bad_case{"LogLevelLoud", "log.level", "loud"},
                      bad_case{"MaxPayloadZero", "node.max-payload", "0"},
                      bad_case{"MaxPayloadTooLarge", "node.max-payload", "16777217"},
                      bad_case{"DiscoveryEnabledMaybe", "discovery.enabled", "maybe"},
                      bad_case{"DiscoveryEnabledOne", "discovery.enabled", "1"},
                      bad_case{"DiscoveryGroupUnicast", "discovery.group", "10.0.0.1"},
                      bad_case{"DiscoveryGroupNotAnAddress", "discovery.group", "group"},
                      bad_case{"DiscoveryInterface", "discovery.interface", "eth0/1"},
                      bad_case{"DiscoveryTtlZero", "discovery.ttl", "0"},
                      bad_case{"ListenNotIpv4", "node.listen", "::1"},
                      bad_case{"ClusterTooLong", "node.cluster", std::string(65, 'c')},
                      bad_case{"NodeIdNotHex", "node.id", "xyz"},
                      bad_case{"NodeIdZero", "node.id", "0"},
                      bad_case{"HeartbeatTooSmall", "overlay.heartbeat", "1"},
                      bad_case{"UnknownKey", "node.colour", "blue"}),
    [](const ::testing::TestParamInfo<bad_case>& info) { return info.param.name; });

// Issue 15's keys.
INSTANTIATE_TEST_SUITE_P(
    Ops, ConfigBadValue,
    ::testing::Values(
        bad_case{"DiscoveryInterfaceNotAnAddress", "discovery.interface", "999.1.1.1"},
        bad_case{"DiscoveryInterfaceTooLong", "discovery.interface", "a-name-of-16-chr"},
        bad_case{"MetricsNoPort", "metrics.listen", "127.0.0.1"},
        bad_case{"MetricsNotIpv4", "metrics.listen", "host:9464"},
        bad_case{"ControlSocketTooLong", "control.socket", std::string(108, 's')}),
    [](const ::testing::TestParamInfo<bad_case>& info) { return info.param.name; });

TEST(ConfigErrors, UnknownKeySaysSo) {
  EXPECT_THAT(load_error({"--node.colour=blue"}), HasSubstr("unknown key"));
}

TEST(ConfigErrors, EmptyClusterIsRejected) {
  EXPECT_THAT(load_error({"--node.cluster=\"\""}), HasSubstr("node.cluster"));
}

TEST(ConfigErrors, ArgumentsMustBeGroupKeyValue) {
  EXPECT_THAT(load_error({"node.port=1"}), HasSubstr("node.port=1"));
  EXPECT_THAT(load_error({"--node.port"}), HasSubstr("--node.port"));
}

TEST(ConfigErrors, CombinedChecks) {
  EXPECT_THAT(load_error({"--node.redial-min=6000"}), HasSubstr("node.redial-min"));
  EXPECT_THAT(load_error({"--overlay.heartbeat=2000"}), HasSubstr("overlay.dead-after"));
  EXPECT_THAT(load_error({"--overlay.dead-after=500"}), HasSubstr("overlay.dead-after"));
  // A link is suspect (probed) at a heartbeat and a sixth; dead-after must
  // leave room for that.
  EXPECT_THAT(load_error({"--overlay.heartbeat=120", "--overlay.dead-after=140"}),
              HasSubstr("overlay.dead-after = 140"));
  auto c = load_ok({"--overlay.heartbeat=120", "--overlay.dead-after=141"});
  EXPECT_EQ(c.heartbeat_ms, 120u);
  EXPECT_EQ(c.dead_after_ms, 141u);
  EXPECT_THAT(load_error({"--overlay.max-members=16", "--overlay.max-degree=20"}),
              HasSubstr("overlay.max-members = 16"));
  EXPECT_THAT(load_error({"--overlay.max-members=15"}), HasSubstr("out of range"));
  EXPECT_EQ(load_ok({"--overlay.max-members=100000"}).max_members, 100000u);
}

TEST_F(ConfigFiles, MissingConfigFileCannotBeRead) {
  auto missing = path("missing.conf");
  auto msg = load_error({"--config-file=" + missing});
  EXPECT_THAT(msg, HasSubstr(missing));
  EXPECT_THAT(msg, HasSubstr("cannot be read"));
  EXPECT_THAT(msg, HasSubstr("config-file"));
}

TEST_F(ConfigFiles, ExplicitMissingFileDoesNotFallBackToDefault) {
  auto def = write("default.conf", "[node]\nport=1234\n");
  auto msg = load_error({"--config-file=" + path("missing.conf")}, {def});
  EXPECT_THAT(msg, HasSubstr("cannot be read"));
}

// ---------------------------------------------------------------------------
// Values that are accepted

TEST(ConfigValues, NumbersAtTheirBounds) {
  EXPECT_EQ(load_ok({"--node.port=65535"}).port, 65535);
  EXPECT_EQ(load_ok({"--node.port=0"}).port, 0);
  EXPECT_EQ(load_ok({"--node.port= 50001 "}).port, 50001);
  EXPECT_EQ(load_ok({"--node.max-payload=1"}).max_payload, 1u);
  EXPECT_EQ(load_ok({"--node.max-payload=16777216"}).max_payload, 16777216u);
  EXPECT_EQ(load_ok({"--discovery.ttl=255"}).discovery_ttl, 255);
}

TEST(ConfigValues, PortRange) {
  auto c = load_ok({"--node.port-range=9000-9100"});
  EXPECT_EQ(c.port_first, 9000);
  EXPECT_EQ(c.port_last, 9100);
  auto q = load_ok({"--node.port-range=\"1-65535\""});
  EXPECT_EQ(q.port_first, 1);
  EXPECT_EQ(q.port_last, 65535);
  auto one = load_ok({"--node.port-range=7000-7000"});
  EXPECT_EQ(one.port_first, 7000);
  EXPECT_EQ(one.port_last, 7000);
}

TEST(ConfigValues, BooleansTrueAndFalse) {
  EXPECT_FALSE(load_ok({"--discovery.enabled=false"}).discovery_enabled);
  EXPECT_TRUE(load_ok({"--discovery.enabled=true"}).discovery_enabled);
  EXPECT_FALSE(load_ok({"--discovery.enabled=\"false\""}).discovery_enabled);
  // The last value wins.
  EXPECT_TRUE(load_ok({"--discovery.enabled=false", "--discovery.enabled=true"})
                  .discovery_enabled);
}

TEST(ConfigValues, PeersQuotedList) {
  auto c = load_ok({R"(--node.peers=["127.0.0.1:50001","127.0.0.1:50002"])"});
  ASSERT_EQ(c.peers.size(), 2u);
  EXPECT_EQ(c.peers[0], (host_port{"127.0.0.1", 50001}));
  EXPECT_EQ(c.peers[1], (host_port{"127.0.0.1", 50002}));
}

TEST(ConfigValues, PeersShellStrippedList) {
  auto c = load_ok({"--node.peers=[127.0.0.1:50001,127.0.0.1:50002]"});
  ASSERT_EQ(c.peers.size(), 2u);
  EXPECT_EQ(c.peers[0], (host_port{"127.0.0.1", 50001}));
  EXPECT_EQ(c.peers[1], (host_port{"127.0.0.1", 50002}));
}

TEST(ConfigValues, PeersOtherForms) {
  auto spaced = load_ok({R"(--node.peers=[ "127.0.0.1:1" , "10.0.0.2:2" ])"});
  ASSERT_EQ(spaced.peers.size(), 2u);
  EXPECT_EQ(spaced.peers[1], (host_port{"10.0.0.2", 2}));
  auto bare = load_ok({"--node.peers=127.0.0.1:7"});
  ASSERT_EQ(bare.peers.size(), 1u);
  EXPECT_EQ(bare.peers[0].to_string(), "127.0.0.1:7");
  auto local = load_ok({"--node.peers=[localhost:9]"});
  ASSERT_EQ(local.peers.size(), 1u);
  EXPECT_EQ(local.peers[0], (host_port{"127.0.0.1", 9}));
  EXPECT_TRUE(load_ok({"--node.peers=[]"}).peers.empty());
}

TEST(ConfigValues, StringsAndIds) {
  auto c =
      load_ok({"--node.cluster=\"two words\"", "--node.id=00000000000000AB",
               "--console.output=jsonl", "--log.level=off", "--node.listen=127.0.0.1",
               "--discovery.group=224.0.0.251", "--log.file=/tmp/lanmesh.log"});
  EXPECT_EQ(c.cluster, "two words");
  ASSERT_TRUE(c.id.has_value());
  EXPECT_EQ(*c.id, 0xabu);
  EXPECT_EQ(c.console_output, "jsonl");
  EXPECT_EQ(c.log_level, "off");
  EXPECT_EQ(c.listen, "127.0.0.1");
  EXPECT_EQ(c.discovery_group, "224.0.0.251");
  EXPECT_EQ(c.log_file, "/tmp/lanmesh.log");
  EXPECT_FALSE(load_ok({"--node.id=5", "--node.id=\"\""}).id.has_value());
}

TEST(ConfigValues, ParseHostPort) {
  auto lh = parse_host_port("localhost:80");
  ASSERT_TRUE(lh.has_value());
  EXPECT_EQ(lh->host, "127.0.0.1");
  EXPECT_EQ(lh->port, 80);
  EXPECT_EQ(parse_host_port("192.168.1.20:65535"), (host_port{"192.168.1.20", 65535}));
  for (const char* bad :
       {"", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:8a", "host:1", "1.2.3:4", "256.0.0.1:1", "[::1]:80", "127.0.0.1:-1"})
    EXPECT_FALSE(parse_host_port(bad).has_value()) << bad;
}

// ---------------------------------------------------------------------------
// Help

TEST(ConfigHelp, HelpRequested) {
  EXPECT_TRUE(std::holds_alternative<help_requested>(load_config({"--help"}, {})));
  EXPECT_TRUE(std::holds_alternative<help_requested>(load_config({"-h"}, {})));
  EXPECT_TRUE(std::holds_alternative<help_requested>(
      load_config({"--node.port=1", "--help"}, {})));
}

TEST(ConfigHelp, HelpListsEveryKey) {
  auto help = config_help();
  for (const char* key : {"node.cluster",
                          "node.id",
                          "node.listen",
                          "node.port",
                          "node.port-range",
                          "node.peers",
                          "node.max-payload",
                          "node.handshake-timeout",
                          "node.redial-min",
                          "node.redial-max",
                          "node.seen-max-entries",
                          "node.seen-max-age",
                          "overlay.heartbeat",
                          "overlay.dead-after",
                          "discovery.enabled",
                          "discovery.group",
                          "discovery.port",
                          "discovery.interface",
                          "discovery.ttl",
                          "console.output",
                          "log.level",
                          "log.file"})
    EXPECT_THAT(help, HasSubstr(std::string("--") + key + "=")) << key;
}

// ---------------------------------------------------------------------------
// INI files

TEST_F(ConfigFiles, IniGroupsCommentsStringsLists) {
  auto file = write("lanmesh.conf", R"(; a comment line
   ; an indented comment

[node]
cluster = "my cluster ; not a comment" ; but this is one
port = 50005 ; comment after a value
port-range = "50000-50100"
peers = ["127.0.0.1:50001", "127.0.0.1:50002"]
id = "00000000000000ab"
max-payload=1024

[ discovery ]
enabled = false
group = "239.1.2.3"
ttl = 4

[console]
output = jsonl

[log]
level = debug
file = "/var/log/with \"quote\".log"
)");
  auto c = load_ok({"--config-file=" + file});
  EXPECT_EQ(c.config_file, file);
  EXPECT_EQ(c.cluster, "my cluster ; not a comment");
  EXPECT_EQ(c.port, 50005);
  EXPECT_EQ(c.port_first, 50000);
  EXPECT_EQ(c.port_last, 50100);
  ASSERT_EQ(c.peers.size(), 2u);
  EXPECT_EQ(c.peers[0], (host_port{"127.0.0.1", 50001}));
  EXPECT_EQ(c.peers[1], (host_port{"127.0.0.1", 50002}));
  ASSERT_TRUE(c.id.has_value());
  EXPECT_EQ(*c.id, 0xabu);
  EXPECT_EQ(c.max_payload, 1024u);
  EXPECT_FALSE(c.discovery_enabled);
  EXPECT_EQ(c.discovery_group, "239.1.2.3");
  EXPECT_EQ(c.discovery_ttl, 4);
  EXPECT_EQ(c.console_output, "jsonl");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_file, "/var/log/with \"quote\".log");
  // Keys the file does not name keep their defaults.
  EXPECT_EQ(c.heartbeat_ms, 1200u);
  EXPECT_EQ(c.listen, "0.0.0.0");
}

TEST_F(ConfigFiles, IniWindowsLineEndings) {
  auto file = write("crlf.conf", "[node]\r\nport = 4242\r\ncluster = \"c\"\r\n");
  auto c = load_ok({"--config-file=" + file});
  EXPECT_EQ(c.port, 4242);
  EXPECT_EQ(c.cluster, "c");
}

TEST_F(ConfigFiles, IniCommentAfterStringEndingInEscapedBackslash) {
  // Regression test for a fixed bug (main/config.cpp:319, apply_ini, comment stripping):
  // a quote preceded by a backslash is taken as escaped even when that backslash is
  // itself escaped, so in `file = "C:\\logs\\" ; note` the closing quote is
  // missed, the `; note` comment is kept, and parse_string then fails.
  // Expected: log.file = C:\logs\ ; actual: config_error "malformed string".
  auto file = write("bs.conf", "[log]\nfile = \"C:\\\\logs\\\\\" ; note\n");
  auto c = load_ok({"--config-file=" + file});
  EXPECT_EQ(c.log_file, "C:\\logs\\");
}

TEST_F(ConfigFiles, CliOverridesFile) {
  auto file = write("lanmesh.conf", "[node]\nport = 1000\ncluster = \"from-file\"\n"
                                    "[discovery]\nenabled = true\n");
  auto c =
      load_ok({"--node.port=2000", "--config-file=" + file, "--discovery.enabled=false"});
  EXPECT_EQ(c.port, 2000);
  EXPECT_EQ(c.cluster, "from-file");
  EXPECT_FALSE(c.discovery_enabled);
}

TEST_F(ConfigFiles, UnknownKeyInFileNamesFileAndLine) {
  auto file = write("bad.conf", "[node]\nport = 1000\ncolour = blue\n");
  auto msg = load_error({"--config-file=" + file});
  EXPECT_THAT(msg, HasSubstr(file + ":3"));
  EXPECT_THAT(msg, HasSubstr("node.colour"));
  EXPECT_THAT(msg, HasSubstr("blue"));
  EXPECT_THAT(msg, HasSubstr("unknown key"));
}

TEST_F(ConfigFiles, BadValueInFileNamesFileAndLine) {
  auto file = write("bad.conf", "; header\n\n[node]\nport = 70000\n");
  auto msg = load_error({"--config-file=" + file});
  EXPECT_THAT(msg, HasSubstr(file + ":4"));
  EXPECT_THAT(msg, HasSubstr("node.port"));
  EXPECT_THAT(msg, HasSubstr("70000"));
}

TEST_F(ConfigFiles, MalformedLinesInFile) {
  auto no_group = write("a.conf", "port = 1\n");
  EXPECT_THAT(load_error({"--config-file=" + no_group}), HasSubstr(no_group + ":1"));
  auto bad_header = write("b.conf", "[node\nport = 1\n");
  EXPECT_THAT(load_error({"--config-file=" + bad_header}), HasSubstr(bad_header + ":1"));
  auto no_eq = write("c.conf", "[node]\nport 1\n");
  EXPECT_THAT(load_error({"--config-file=" + no_eq}), HasSubstr(no_eq + ":2"));
  auto unclosed = write("d.conf", "[node]\ncluster = \"abc\n");
  auto msg = load_error({"--config-file=" + unclosed});
  EXPECT_THAT(msg, HasSubstr("node.cluster"));
  EXPECT_THAT(msg, HasSubstr(unclosed + ":2"));
}

TEST_F(ConfigFiles, EmptyFileGivesDefaults) {
  auto file = write("empty.conf", "");
  auto c = load_ok({"--config-file=" + file});
  EXPECT_EQ(c.config_file, file);
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.cluster, "lanmesh");
}

TEST_F(ConfigFiles, FirstExistingDefaultPathIsUsed) {
  auto a = write("a.conf", "[node]\ncluster = \"from-a\"\n");
  auto b = write("b.conf", "[node]\ncluster = \"from-b\"\n");
  auto c = load_ok({}, {path("missing.conf"), a, b});
  EXPECT_EQ(c.config_file, a);
  EXPECT_EQ(c.cluster, "from-a");
  auto d = load_ok({}, {b, a});
  EXPECT_EQ(d.config_file, b);
  EXPECT_EQ(d.cluster, "from-b");
}

TEST_F(ConfigFiles, ExplicitConfigFileBeatsDefaultPaths) {
  auto def = write("default.conf", "[node]\ncluster = \"default\"\n");
  auto mine = write("mine.conf", "[node]\ncluster = \"mine\"\n");
  auto c = load_ok({"--config-file=" + mine}, {def});
  EXPECT_EQ(c.config_file, mine);
  EXPECT_EQ(c.cluster, "mine");
}

TEST_F(ConfigFiles, ApplyIniDirectly) {
  node_config c;
  EXPECT_FALSE(
      apply_ini(c, "[overlay]\nheartbeat = 250\ndead-after = 1000\n", "mem").has_value());
  EXPECT_EQ(c.heartbeat_ms, 250u);
  EXPECT_EQ(c.dead_after_ms, 1000u);
  auto e = apply_ini(c, "[overlay]\nheartbeat = 0\n", "mem");
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->message, HasSubstr("mem:2"));
  EXPECT_THAT(e->message, HasSubstr("overlay.heartbeat"));
}

} // namespace
} // namespace lanmesh

// ---------------------------------------------------------------------------
// Issue 15: control socket, metrics, interface names, CAF's own groups

namespace lanmesh {
namespace {

TEST(ConfigOps, InterfaceTakesAnAddressANameOrAuto) {
  EXPECT_EQ(load_ok({"--discovery.interface=eth0"}).discovery_interface, "eth0");
  EXPECT_EQ(load_ok({"--discovery.interface=auto"}).discovery_interface, "auto");
  EXPECT_EQ(load_ok({"--discovery.interface=10.1.2.3"}).discovery_interface, "10.1.2.3");
  EXPECT_EQ(load_ok({"--discovery.interface=br-lan.10"}).discovery_interface,
            "br-lan.10");
}

TEST(ConfigOps, ControlAndMetricsKeys) {
  auto c = load_ok({"--control.socket=/run/x/c.sock", "--metrics.listen=127.0.0.1:9464"});
  EXPECT_EQ(c.control_socket, "/run/x/c.sock");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
  auto d = load_ok({});
  EXPECT_EQ(d.control_socket, "");
  EXPECT_EQ(d.metrics_listen, "");
  EXPECT_EQ(load_ok({"--metrics.listen=0.0.0.0:0"}).metrics_listen, "0.0.0.0:0");
}

// A stand-in for CAF's option table: knows one key of one foreign group.
std::optional<std::string> fake_caf(const std::string& key, const std::string& raw) {
  if (key != "scheduler.max-threads")
    return std::string("unknown key");
  if (raw.empty() || raw.find_first_not_of("0123456789") != std::string::npos)
    return std::string("not a valid uint64 (CAF option)");
  return std::nullopt;
}

TEST(ConfigOps, ForeignGroupsGoToTheValidatorInOrder) {
  auto r = load_config({"--scheduler.max-threads=3", "--scheduler.max-threads=4"}, {},
                       fake_caf);
  auto* c = std::get_if<node_config>(&r);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->caf_settings.size(), 2u);
  EXPECT_EQ(c->caf_settings[1],
            (std::pair<std::string, std::string>{"scheduler.max-threads", "4"}));
}

TEST(ConfigOps, ForeignKeysAreRefusedWithTheValidatorsReason) {
  auto r = load_config({"--scheduler.max-thread=3"}, {}, fake_caf);
  auto* e = std::get_if<config_error>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message, "config: scheduler.max-thread = 3: unknown key");
  r = load_config({"--scheduler.max-threads=many"}, {}, fake_caf);
  e = std::get_if<config_error>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_THAT(e->message, HasSubstr("scheduler.max-threads = many: not a valid uint64"));
}

TEST(ConfigOps, LanmeshGroupsNeverGoToTheValidator) {
  // The validator would take anything; lanmesh's own groups still say no.
  auto anything = [](const std::string&,
                     const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  for (auto* key : {"node.colour", "control.path", "metrics.port", "log.x"}) {
    auto r = load_config({std::string("--") + key + "=1"}, {}, anything);
    ASSERT_TRUE(std::holds_alternative<config_error>(r)) << key;
    EXPECT_THAT(std::get<config_error>(r).message, HasSubstr("unknown key"));
  }
  // Without a validator, a foreign group is unknown too.
  EXPECT_THAT(load_error({"--scheduler.max-threads=2"}), HasSubstr("unknown key"));
}

TEST_F(ConfigFiles, ForeignGroupsInTheFileNameTheLine) {
  auto file = write("caf.conf", "[node]\ncluster=\"x\"\n[scheduler]\nmax-threads=2\n"
                                "max-thread=2\n");
  auto r = load_config({"--config-file=" + file}, {}, fake_caf);
  auto* e = std::get_if<config_error>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_THAT(e->message, HasSubstr("scheduler.max-thread = 2: unknown key"));
  EXPECT_THAT(e->message, HasSubstr(file + ":5"));
}

} // namespace
} // namespace lanmesh
