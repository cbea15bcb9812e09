package node

import (
	"fmt"
	"time"

	"github.com/monaco-sovereign/jumeau/diskspace"
)

// DiskConfig is the free-space guard on node.data_dir's filesystem (see
// the diskspace package): below the warn threshold an alarm (status, log,
// metrics), below the refuse threshold new client writes are refused
// until there is room again. Each threshold is the smaller of its bytes
// and its percentage of the volume's size; 0 leaves that part unset, both
// 0 turn the level off.
type DiskConfig struct {
	WarnFreeBytes     diskspace.Bytes `mapstructure:"warn_free_bytes"`
	WarnFreePercent   float64         `mapstructure:"warn_free_percent"`
	RefuseFreeBytes   diskspace.Bytes `mapstructure:"refuse_free_bytes"`
	RefuseFreePercent float64         `mapstructure:"refuse_free_percent"`
	// CheckEvery is how often the free space is read.
	CheckEvery time.Duration `mapstructure:"check_every"`
	// BallastBytes is the size of the emergency ballast file created in
	// node.data_dir (0: none, and an existing one is removed).
	BallastBytes diskspace.Bytes `mapstructure:"ballast_bytes"`
}

func defaultDiskConfig() DiskConfig {
	d := diskspace.DefaultConfig()
	return DiskConfig{
		WarnFreeBytes: d.Warn.Bytes, WarnFreePercent: d.Warn.Percent,
		RefuseFreeBytes: d.Refuse.Bytes, RefuseFreePercent: d.Refuse.Percent,
		CheckEvery: d.CheckEvery, BallastBytes: d.BallastBytes,
	}
}

// diskConfig is the guard's configuration (disk.*).
func (c Config) diskConfig() diskspace.Config {
	d := diskspace.DefaultConfig()
	d.Node, d.Path = c.Node.Name, c.Node.DataDir
	d.Warn = diskspace.Threshold{Bytes: c.Disk.WarnFreeBytes, Percent: c.Disk.WarnFreePercent}
	d.Refuse = diskspace.Threshold{Bytes: c.Disk.RefuseFreeBytes, Percent: c.Disk.RefuseFreePercent}
	d.CheckEvery = c.Disk.CheckEvery
	d.BallastBytes = c.Disk.BallastBytes
	return d
}

func (c Config) validateDisk() error {
	if err := c.diskConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// startDisk starts the free-space guard on the data directory (it exists
// by now): its ballast is made before Pebble takes the room.
func (n *Node) startDisk() error {
	g, err := diskspace.New(n.cfg.diskConfig(), diskspace.Deps{Logger: n.logger, Registerer: n.reg})
	if err != nil {
		return fmt.Errorf("node: disk guard: %w", err)
	}
	n.disk = g
	g.Start()
	st := g.Status()
	n.logger.Info("disk guard started", "path", st.Path, "free_bytes", st.FreeBytes, "total_bytes", st.TotalBytes,
		"warn_free_bytes", st.WarnFreeBytes, "refuse_free_bytes", st.RefuseFreeBytes, "ballast_bytes", st.BallastBytes)
	return nil
}

// admit is the cell's Admit hook: the disk guard's verdict.
func (n *Node) admit() error { return n.disk.Admit() }
