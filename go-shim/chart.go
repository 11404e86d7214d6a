package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
)

// contentDigest is the sha256 of exactly what Helm loads of a chart: every
// file its loader reads (a directory's .helmignore respected; an archive's
// entries), subcharts included, by name, each name and content framed by
// its length. A file Helm ignores cannot change it.
func contentDigest(ch *helmChart) string {
	files := append([]*helmChartFile(nil), ch.Raw...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Name)))
		h.Write(n[:])
		h.Write([]byte(f.Name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Data)))
		h.Write(n[:])
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// opChartDigest loads a chart as Helm does and digests what it loaded.
func opChartDigest(_ context.Context, req digestRequest, _ eventSink) (digestReply, error) {
	ch, err := loadChartFiles(req.Path)
	if err != nil {
		return digestReply{}, errorf(kindInvalidInput, "chart %s is not a valid Helm chart: %v", req.Path, err)
	}
	return digestReply{Digest: contentDigest(ch)}, nil
}
