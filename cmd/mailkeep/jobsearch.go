package main

import (
	"context"
	"time"

	"github.com/mailkeep/mailkeep/archive"
	"github.com/mailkeep/mailkeep/internal/config"
)

// catchUpSearch builds, after a scheduled job, the search index its run
// left unbuilt: a writer indexes what it stored when it closes only up to
// archive.IndexesAtClose messages (backup.go stores without indexing), so
// after a larger run search and serve would otherwise find the new mail
// only once a 'mailkeep search' has built it. It holds the daemon's
// archive lock as a job does (the next job waits for it), stops with the
// daemon, and is skipped while another process writes the archive.
func (r *runner) catchUpSearch(ctx context.Context, cfg *config.Config, j *config.Job, res *jobResult) {
	if !writesArchive(j.Kind()) || ctx.Err() != nil {
		return
	}
	var stored int64
	for _, a := range res.Accounts {
		stored += a.Counts["new"]
	}
	if stored <= int64(archive.IndexesAtClose()) && j.Kind() != "migrate" {
		return // indexed by the job's own writer
	}
	r.archiveMu.Lock()
	defer r.archiveMu.Unlock()
	log := r.log.With("job", j.Name)
	env := r.g.env(cfg, nil)
	w, err := env.OpenArchiveWriter(ctx, cfg.Archive, "mailkeep run (building the search index)")
	if err != nil {
		log.Info("search index not built now; the next search builds it", "error", oneLine(err.Error()))
		return
	}
	defer w.Close()
	n, err := w.SearchUnindexed(ctx)
	if err != nil || n == 0 {
		return
	}
	start := time.Now()
	if err := w.BuildSearchIndex(ctx, nil); err != nil {
		log.Warn("search index partly built; the next search goes on", "messages", n, "error", oneLine(err.Error()))
		return
	}
	log.Info("search index built", "messages", n, "seconds", time.Since(start).Round(100*time.Millisecond).Seconds())
}
