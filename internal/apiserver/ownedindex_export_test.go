package apiserver

// SetIndexPassHook replaces the hook run before each kind of the account
// index pass and returns a function that restores it.
func SetIndexPassHook(f func(kind string) error) (restore func()) {
	old := indexPassHook
	indexPassHook = f
	return func() { indexPassHook = old }
}

// OwnedIndexMeta is the name of the account index marker.
const OwnedIndexMeta = ownedIndexMeta
