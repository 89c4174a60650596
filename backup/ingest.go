package backup

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/mailkeep/mailkeep/archive"
)

// item is one message on its way into the archive.
type item struct {
	// Where it was seen.
	uid    uint32
	uidl   string
	num    int // POP3 message number
	flags  []string
	date   time.Time
	modseq uint64

	raw  []byte // nil when the message was streamed straight into the archive
	hash archive.Hash
	size int64

	prep  *archive.Prepared
	added bool
	err   error
	done  chan struct{}
}

// ingester hashes and compresses messages on several cores and hands them,
// in the order they arrived, to a single function that records them: the
// order is what makes "every UID up to N is archived" a valid checkpoint.
type ingester struct {
	ctx      context.Context
	cancel   context.Context // the caller's: stops waiting for room
	repo     *archive.Repo
	ordered  chan *item
	work     chan *item
	budget   *budget
	record   func(*item) error
	wg       sync.WaitGroup
	writerWG sync.WaitGroup

	mu  sync.Mutex
	err error
}

// inFlight bounds the raw bytes held between the network and the archive.
const inFlight = 8 << 20

func newIngester(ctx context.Context, repo *archive.Repo, record func(*item) error) *ingester {
	g := &ingester{
		// Messages already received are stored even when the run is being
		// cancelled: the in-flight work finishes, then the run stops.
		ctx:     context.WithoutCancel(ctx),
		cancel:  ctx,
		repo:    repo,
		ordered: make(chan *item, 256),
		work:    make(chan *item, 256),
		budget:  newBudget(inFlight),
		record:  record,
	}
	workers := runtime.GOMAXPROCS(0)
	for i := 0; i < workers; i++ {
		g.wg.Add(1)
		go g.worker()
	}
	g.writerWG.Add(1)
	go g.writer()
	return g
}

func (g *ingester) worker() {
	defer g.wg.Done()
	for it := range g.work {
		if g.failed() == nil {
			it.prep, it.err = g.repo.Prepare(g.ctx, it.raw)
		}
		close(it.done)
	}
}

func (g *ingester) writer() {
	defer g.writerWG.Done()
	for it := range g.ordered {
		<-it.done
		if it.raw != nil {
			g.budget.release(int64(len(it.raw)))
		}
		if g.failed() != nil {
			continue
		}
		err := it.err
		if err == nil && it.prep != nil {
			it.hash, it.size = it.prep.Hash, it.prep.Size
			it.added, err = g.repo.Put(g.ctx, it.prep)
			it.prep = nil
		}
		it.raw = nil
		if err == nil {
			err = g.record(it)
		}
		if err != nil {
			g.setErr(err)
		}
	}
}

func (g *ingester) setErr(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
}

func (g *ingester) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// add queues a message whose bytes are in it.raw, or whose hash and size
// are already set because it was streamed into the archive.
func (g *ingester) add(it *item) error {
	if err := g.failed(); err != nil {
		return err
	}
	it.done = make(chan struct{})
	if it.raw == nil {
		close(it.done)
		g.ordered <- it
		return nil
	}
	if err := g.budget.acquire(g.cancel, int64(len(it.raw))); err != nil {
		return err
	}
	g.ordered <- it
	g.work <- it
	return nil
}

// close waits until every queued message is recorded.
func (g *ingester) close() error {
	close(g.work)
	close(g.ordered)
	g.wg.Wait()
	g.writerWG.Wait()
	return g.failed()
}

// budget is a counting semaphore over bytes.
type budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	free int64
	max  int64
}

func newBudget(n int64) *budget {
	b := &budget{free: n, max: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *budget) acquire(ctx context.Context, n int64) error {
	if n > b.max {
		n = b.max // one message larger than the budget still goes, alone
	}
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.cond.Wait()
	}
	b.free -= n
	return nil
}

func (b *budget) release(n int64) {
	if n > b.max {
		n = b.max
	}
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}
