// A one-member etcd for the e2e control plane, from go.etcd.io/etcd/server/v3/embed.
package main

import (
	"flag"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Our own logger: embed redirects the standard logger into its zap logger, which drops info lines at level warn.
var logger = log.New(os.Stderr, "", log.LstdFlags)

func main() {
	dir := flag.String("data-dir", "", "data directory (required)")
	client := flag.String("listen-client-url", "http://127.0.0.1:2379", "client URL to listen on and advertise")
	peer := flag.String("listen-peer-url", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
	flag.Parse()
	if *dir == "" {
		logger.Fatal("--data-dir is required")
	}

	cfg := embed.NewConfig()
	cfg.Name = "e2e"
	cfg.Dir = *dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = mustURL(*client), mustURL(*client)
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = mustURL(*peer), mustURL(*peer)
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// The defaults (100 ms) log nearly every request of a busy test run on a loaded 2-core machine.
	cfg.WarningApplyDuration = 2 * time.Second
	cfg.WarningUnaryRequestDuration = 2 * time.Second

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		logger.Fatalf("starting: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		logger.Printf("ready, serving %s", *client)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		logger.Fatal("not ready after 60 s")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-stop:
		logger.Printf("%v: stopping", s)
		e.Close()
	case err := <-e.Err():
		logger.Fatalf("serving: %v", err)
	}
}

func mustURL(s string) []url.URL {
	u, err := url.Parse(s)
	if err != nil {
		logger.Fatalf("bad URL %q: %v", s, err)
	}
	return []url.URL{*u}
}
