// Route normalisation and per-route aggregation.
#include <routeheap/analysis/routes.h>

#include <gtest/gtest.h>

namespace routeheap::analysis {
namespace {

TEST(Routes, NumericSegmentsCollapse) {
    EXPECT_EQ(normalize_route("/users/42"), "/users/:id");
    EXPECT_EQ(normalize_route("/users/42/orders/7"), "/users/:id/orders/:id");
    EXPECT_EQ(normalize_route("/v2/items"), "/v2/items");  // "v2" is not numeric
}

TEST(Routes, UnprintableBytesArePercentEncoded) {
    EXPECT_EQ(printable_request_text("/caf\xe9"), "/caf%E9");
    EXPECT_EQ(printable_request_text("/a b\x01"), "/a%20b%01");
    EXPECT_EQ(printable_request_text("/plain/path-1"), "/plain/path-1");
}

TEST(Routes, UuidSegmentsCollapse) {
    EXPECT_EQ(normalize_route("/files/123e4567-e89b-12d3-a456-426614174000/raw"), "/files/:id/raw");
    EXPECT_EQ(normalize_route("/files/123E4567-E89B-12D3-A456-426614174000"), "/files/:id");
    EXPECT_EQ(normalize_route("/files/123e4567-e89b-12d3-a456-42661417400"), "/files/123e4567-e89b-12d3-a456-42661417400");
}

TEST(Routes, HexIdSegmentsCollapse) {
    EXPECT_EQ(normalize_route("/objects/507f1f77bcf86cd799439011"), "/objects/:id");
    EXPECT_EQ(normalize_route("/commit/9fceb02d"), "/commit/:id");
    EXPECT_EQ(normalize_route("/deadbeef"), "/deadbeef");  // letters only: a word, not an id
    EXPECT_EQ(normalize_route("/abc123"), "/abc123");      // too short for a hex id
}

TEST(Routes, QueryIsNeverPresent) {
    EXPECT_EQ(normalize_route("/search?q=1&page=2"), "/search");
    EXPECT_EQ(normalize_route("/users/42?expand=true"), "/users/:id");
    EXPECT_EQ(normalize_route("/page#top"), "/page");
}

TEST(Routes, EdgeShapes) {
    EXPECT_EQ(normalize_route(""), "/");
    EXPECT_EQ(normalize_route("/"), "/");
    EXPECT_EQ(normalize_route("/users/42/"), "/users/:id/");
    EXPECT_EQ(normalize_route("/a//1"), "/a//:id");
}

TEST(Routes, PercentileNearestRank) {
    EXPECT_EQ(percentile({}, 50), 0);
    EXPECT_EQ(percentile({5}, 50), 5);
    EXPECT_EQ(percentile({4, 1, 3, 2}, 50), 2);
    EXPECT_EQ(percentile({4, 1, 3, 2, 5}, 50), 3);
    EXPECT_EQ(percentile({4, 1, 3, 2, 5}, 100), 5);
}

TEST(Routes, AggregatesByMethodAndRoute) {
    std::vector<Request> requests(4);
    const char* paths[] = {"/users/1", "/users/2", "/users/3", "/users"};
    const int64_t growths[] = {10, 30, 20, 5};
    for (size_t i = 0; i < requests.size(); ++i) {
        requests[i].method = "GET";
        requests[i].path = paths[i];
        requests[i].route = normalize_route(paths[i]);
        requests[i].growth.heap = growths[i];
        requests[i].request_bytes = 100 * (i + 1);
        requests[i].response_bytes = 1000 * (i + 1);
    }
    requests[3].method = "POST";
    Finding finding;
    finding.kind = "buffered-response";
    finding.confidence = Confidence::Medium;
    requests[1].findings.push_back(finding);

    const auto routes = summarize_routes(requests);
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(routes[0].method, "GET");
    EXPECT_EQ(routes[0].route, "/users/:id");
    EXPECT_EQ(routes[0].requests, 3u);
    EXPECT_EQ(routes[0].peak_growth_p50, 20);
    EXPECT_EQ(routes[0].peak_growth_max, 30);
    EXPECT_EQ(routes[0].request_bytes.total, 600u);
    EXPECT_EQ(routes[0].response_bytes.max, 3000u);
    ASSERT_EQ(routes[0].findings.size(), 1u);
    EXPECT_EQ(routes[0].findings[0].requests, 1u);
    EXPECT_EQ(routes[1].method, "POST");
    EXPECT_TRUE(routes[1].findings.empty());
}

}  // namespace
}  // namespace routeheap::analysis
