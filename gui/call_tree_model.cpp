// Call tree model.
#include "call_tree_model.h"

#include "request_models.h"

#include <routeheap/analysis/report.h>

#include <cmath>

namespace routeheap::gui {

void CallTreeModel::set_tree(analysis::CallTree tree) {
    beginResetModel();
    tree_ = std::move(tree);
    row_in_parent_.assign(tree_.nodes().size(), 0);
    for (const analysis::CallTreeNode& node : tree_.nodes()) {
        for (size_t row = 0; row < node.children.size(); ++row) row_in_parent_[node.children[row]] = int(row);
    }
    endResetModel();
}

QModelIndex CallTreeModel::index(int row, int column, const QModelIndex& parent) const {
    const analysis::CallTreeNode& node = tree_.nodes()[node_of(parent)];
    if (row < 0 || row >= int(node.children.size()) || column < 0 || column >= ColumnCount) return {};
    return createIndex(row, column, quintptr(node.children[size_t(row)]));
}

QModelIndex CallTreeModel::parent(const QModelIndex& child) const {
    const size_t node = node_of(child);
    if (node == 0) return {};
    const size_t parent = tree_.nodes()[node].parent;
    if (parent == 0) return {};
    return createIndex(row_in_parent_[parent], 0, quintptr(parent));
}

int CallTreeModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() && parent.column() != 0) return 0;
    return int(tree_.nodes()[node_of(parent)].children.size());
}

int CallTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant CallTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid()) return {};
    const analysis::CallTreeNode& node = tree_.nodes()[node_of(index)];
    if (role == Qt::TextAlignmentRole && index.column() != FrameLabel) {
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    }
    if (role == Qt::ToolTipRole && index.column() == FrameLabel) return QString::fromStdString(node.label);
    const bool sort = role == kSortRole;
    if (role != Qt::DisplayRole && !sort) return {};
    switch (index.column()) {
        case FrameLabel: return QString::fromStdString(node.label);
        case PeakBytes:
            return sort ? QVariant(node.peak_bytes)
                        : QString::fromStdString(analysis::format_bytes(std::llround(node.peak_bytes)));
        case AllocatedBytes:
            return sort ? QVariant(node.allocated_bytes)
                        : QString::fromStdString(analysis::format_bytes(std::llround(node.allocated_bytes)));
        case Allocations: return sort ? QVariant(node.allocations) : QString::number(std::llround(node.allocations));
    }
    return {};
}

QVariant CallTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Frame", "Peak", "Allocated", "Allocations"};
    return section >= 0 && section < ColumnCount ? QString(kNames[section]) : QVariant();
}

}  // namespace routeheap::gui
