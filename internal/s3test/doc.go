// Package s3test starts a private Versity S3 Gateway (posix backend) on a
// free loopback port for tests: a real S3 server, like internal/dovecot is
// a real IMAP server.
//
//	srv := s3test.Start(t)          // skips (or fails with MAILKEEP_REQUIRE_S3=1) when versitygw is missing
//	srv.CreateBucket(t, "backups")
//	... point the code under test at srv.Endpoint with srv.AccessKey/srv.SecretKey ...
//	srv.Stop(); srv.Restart(t)      // fault tests: the server gone mid-push, then back
package s3test
