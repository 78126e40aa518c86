// Tree model over an analysis::CallTree: one row per frame, with peak bytes, allocated
// bytes and the weighted allocation count.
#pragma once

#include <routeheap/analysis/call_tree.h>

#include <QAbstractItemModel>

#include <vector>

namespace routeheap::gui {

class CallTreeModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { FrameLabel, PeakBytes, AllocatedBytes, Allocations, ColumnCount };

    explicit CallTreeModel(QObject* parent = nullptr) : QAbstractItemModel(parent) {}

    // Shows `tree`; its root's children become the top-level rows.
    void set_tree(analysis::CallTree tree);
    const analysis::CallTree& tree() const { return tree_; }

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    size_t node_of(const QModelIndex& index) const { return index.isValid() ? size_t(index.internalId()) : 0; }

    analysis::CallTree tree_ = analysis::CallTree::build({}, analysis::CallTreeOrder::TopDown);
    std::vector<int> row_in_parent_;  // per node
};

}  // namespace routeheap::gui
