// A detector's verdict on one request: its kind, confidence, evidence and fix.
#pragma once

#include <routeheap/analysis/sites.h>

#include <string>
#include <vector>

namespace routeheap::analysis {

enum class Confidence { Low = 0, Medium = 1, High = 2 };
const char* confidence_name(Confidence confidence);

// How an evidence value is measured, so reports can print it in the right unit.
enum class EvidenceUnit { Bytes, Ratio, Fraction, Count, Milliseconds };

struct EvidenceItem {
    std::string name;  // snake_case key, also the JSON field name
    double value = 0;
    EvidenceUnit unit = EvidenceUnit::Count;
};

struct Finding {
    std::string kind;     // "buffered-response", "buffered-upload"
    Confidence confidence = Confidence::Low;
    std::string summary;  // one line: what was seen
    std::vector<EvidenceItem> evidence;
    std::string fix;      // what to change in the Node code
    // The request's top allocation sites at its peak, filled in after detection.
    std::vector<AllocationSite> sites;

    const EvidenceItem* find(const std::string& name) const {
        for (const auto& item : evidence) {
            if (item.name == name) return &item;
        }
        return nullptr;
    }
};

}  // namespace routeheap::analysis
