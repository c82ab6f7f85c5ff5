package sig

// ForgetKeys empties the set of checked keys, so that the next
// verification under any key takes the path of a key never seen.
func ForgetKeys() {
	goodKeys.mu.Lock()
	clear(goodKeys.keys)
	goodKeys.mu.Unlock()
}

// CheckedKeys is how many keys the set holds.
func CheckedKeys() int {
	goodKeys.mu.RLock()
	defer goodKeys.mu.RUnlock()
	return len(goodKeys.keys)
}

// SmallOrderEncodings are the encodings the fast path refuses as R.
func SmallOrderEncodings() [][32]byte {
	var out [][32]byte
	for k := range smallOrder {
		out = append(out, k)
	}
	return out
}

const MaxGoodKeys = maxGoodKeys
