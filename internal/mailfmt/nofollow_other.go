//go:build !unix

package mailfmt

// oNoFollow: no O_NOFOLLOW here; directories are still checked with
// Lstat (mkdirUnder) and files created with O_EXCL.
const oNoFollow = 0
