// Package ratelimit holds the limits mailkeep puts on itself so a mail
// provider does not: a byte rate per account (token bucket), a daily
// download budget per account, and a cap on connections per key
// (account or server host).
//
//	bucket := ratelimit.NewBucket(acct.MaxBytesPerSecond) // nil when 0: no limit
//	conn = ratelimit.Conn(conn, bucket, nil)              // reads wait for tokens
//
//	budget := ratelimit.NewBudget(acct.MaxBytesPerDay, bytesInLast24h)
//	for each message {
//	    if err := budget.Take(size); err != nil { // *BudgetError, errors.Is(err, ErrBudget)
//	        stop cleanly: commit what is done; the next run resumes
//	    }
//	    fetch it
//	}
//
//	release, err := slots.Acquire(ctx, host) // waits while the host has its limit of connections
//	defer release()
//
// A nil *Bucket, *Budget or *Slots means "no limit", so callers need no
// special cases.
package ratelimit
