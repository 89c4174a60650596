package ratelimit

import (
	"errors"
	"fmt"
	"sync"
)

// ErrBudget is what a spent budget wraps: errors.Is(err, ErrBudget)
// means "stop cleanly now, resume on the next run", not a failure.
var ErrBudget = errors.New("download budget spent")

// BudgetError says how much of which budget is spent.
type BudgetError struct {
	Limit, Used int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("daily download budget spent: %s of %s in the last 24 hours; the next run resumes", size(e.Used), size(e.Limit))
}

func (e *BudgetError) Unwrap() error { return ErrBudget }

// Budget is a number of bytes that may be downloaded in a window (the
// caller's: mailkeep uses the last 24 hours), of which some were already
// used when it was made. Safe for concurrent use.
type Budget struct {
	limit int64
	mu    sync.Mutex
	used  int64
}

// NewBudget returns a budget of limit bytes with used already spent, or
// nil (no limit) when limit is 0 or less.
func NewBudget(limit, used int64) *Budget {
	if limit <= 0 {
		return nil
	}
	return &Budget{limit: limit, used: max(used, 0)}
}

// Take charges n bytes. Once the budget is spent it charges nothing and
// returns a *BudgetError; a take that starts within the budget is
// allowed to end past it, so a message larger than what is left (or
// larger than the whole budget) still gets fetched once.
func (b *Budget) Take(n int64) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used >= b.limit {
		return &BudgetError{Limit: b.limit, Used: b.used}
	}
	b.used += max(n, 0)
	return nil
}

// Spent reports whether nothing is left.
func (b *Budget) Spent() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used >= b.limit
}

// Used returns the bytes charged so far, including those used before.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Err returns a *BudgetError when the budget is spent, else nil.
func (b *Budget) Err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used >= b.limit {
		return &BudgetError{Limit: b.limit, Used: b.used}
	}
	return nil
}

func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
