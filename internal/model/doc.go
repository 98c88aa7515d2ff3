// Package model owns privlink's resource model: the Alibaba-PrivateLink-style
// resources (accounts, VPCs, vSwitches, security groups, hosts, endpoint
// services, endpoints and their zones), their IDs and domain names, their
// states, and the validation rules every API input passes before anything is
// written to the store.
package model
