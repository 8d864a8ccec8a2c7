// The text forms of issue 15: the Prometheus page (actors/metrics_text) and
// the events as people read them (actors/render).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "actors/metrics_text.hpp"
#include "actors/render.hpp"

namespace lanmesh {
namespace {

using ::testing::HasSubstr;

metrics_snapshot sample() {
  metrics_snapshot m;
  m.node = "00000000000000ab";
  m.cluster = "c\"1";
  m.version = "1.2.3";
  m.links_in = 2;
  m.links_out = 1;
  m.members = 5;
  m.sent = 7;
  m.delivered = 11;
  m.duplicates = 3;
  m.dials = 4;
  m.stdout_dropped_bytes = 9;
  m.bad_by_rule = {{"bad_magic", 2}};
  m.rtt_bounds_s = {0.001, 0.01};
  m.rtt_counts = {3, 1, 2}; // <= 1 ms, <= 10 ms, above
  m.rtt_count = 6;
  m.rtt_sum_s = 0.5;
  return m;
}

// The value of the sample line `series` (name with labels), or "" if absent.
std::string value_of(const std::string& page, const std::string& series) {
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0)
      return line.substr(series.size() + 1);
  return {};
}

TEST(MetricsText, NamesOfTheIssueWithTheirValues) {
  auto page = prometheus_text(sample());
  EXPECT_EQ(value_of(page, "lanmesh_links{dir=\"in\"}"), "2");
  EXPECT_EQ(value_of(page, "lanmesh_links{dir=\"out\"}"), "1");
  EXPECT_EQ(value_of(page, "lanmesh_members"), "5");
  EXPECT_EQ(value_of(page, "lanmesh_sent_total"), "7");
  EXPECT_EQ(value_of(page, "lanmesh_delivered_total"), "11");
  EXPECT_EQ(value_of(page, "lanmesh_duplicates_total"), "3");
  EXPECT_EQ(value_of(page, "lanmesh_dials_total"), "4");
  EXPECT_EQ(value_of(page, "lanmesh_stdout_dropped_bytes_total"), "9");
  EXPECT_EQ(value_of(page, "lanmesh_bad_frames_total{rule=\"bad_magic\"}"), "2");
  // Every rule has its series, seen or not.
  EXPECT_EQ(value_of(page, "lanmesh_bad_frames_total{rule=\"zero_length\"}"), "0");
  EXPECT_THAT(page, HasSubstr("# TYPE lanmesh_link_rtt_seconds histogram\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE lanmesh_sent_total counter\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE lanmesh_links gauge\n"));
}

TEST(MetricsText, HistogramBucketsAreCumulative) {
  auto page = prometheus_text(sample());
  EXPECT_EQ(value_of(page, "lanmesh_link_rtt_seconds_bucket{le=\"0.001\"}"), "3");
  EXPECT_EQ(value_of(page, "lanmesh_link_rtt_seconds_bucket{le=\"0.01\"}"), "4");
  EXPECT_EQ(value_of(page, "lanmesh_link_rtt_seconds_bucket{le=\"+Inf\"}"), "6");
  EXPECT_EQ(value_of(page, "lanmesh_link_rtt_seconds_count"), "6");
  EXPECT_EQ(value_of(page, "lanmesh_link_rtt_seconds_sum"), "0.5");
}

TEST(MetricsText, LabelValuesAreEscaped) {
  auto page = prometheus_text(sample());
  EXPECT_THAT(page, HasSubstr("cluster=\"c\\\"1\""));
}

TEST(MetricsText, EveryLineIsACommentOrASample) {
  std::istringstream in(prometheus_text(sample()));
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line[0] == '#') {
      EXPECT_TRUE(line.rfind("# HELP lanmesh_", 0) == 0 ||
                  line.rfind("# TYPE lanmesh_", 0) == 0)
          << line;
      continue;
    }
    EXPECT_EQ(line.rfind("lanmesh_", 0), 0u) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
    ++samples;
  }
  EXPECT_GT(samples, 20);
}

TEST(Render, JsonLineNeverFailsOnBadUtf8) {
  json j{{"event", "error"},
         {"message", std::string("a\xff"
                                 "b")}};
  auto line = json_line(j);
  EXPECT_THAT(line, HasSubstr("\"event\":\"error\""));
  EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded());
}

TEST(Render, EventsAsText) {
  EXPECT_EQ(render_text(json{{"event", "deliver"}, {"origin", "ab"}, {"payload", "hi"}}),
            std::vector<std::string>{"[ab] hi"});
  EXPECT_EQ(
      render_text(json{{"event", "peer_down"}, {"peer", "cd"}, {"reason", "goodbye"}}),
      std::vector<std::string>{"peer down: cd (goodbye)"});
  auto members = render_text(json{{"event", "members"},
                                  {"members", json::array({json{{"node", "ab"},
                                                                {"addr", "127.0.0.1:1"},
                                                                {"status", "self"},
                                                                {"links_in", 1},
                                                                {"links_out", 2}}})}});
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0], "1 member(s)");
  EXPECT_THAT(members[2], HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(members[2], HasSubstr("in 1, out 2"));
}

TEST(Render, AMalformedEventIsShownAsItsJson) {
  // "peers" must be a list; a number is not, and nothing throws.
  auto lines = render_text(json{{"event", "peers"}, {"peers", 3}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("\"peers\":3"));
}

} // namespace
} // namespace lanmesh
